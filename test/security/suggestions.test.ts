import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, START_LIVESTREAM, startServer, type TestServer } from '../helpers.js';
import { bearer, HS256_ENV, hsToken, operate, rawSocket } from './support.js';

// Suggestions ("Did you mean …?") name fields, arguments, types and enum values: with
// introspection off (production) they would tell what introspection hides.

let production: TestServer;
let development: TestServer;
let token: string;

beforeAll(async () => {
  [production, development] = await Promise.all([
    startServer({ NODE_ENV: 'production', ...HS256_ENV }),
    startServer({ SANDBOX_STEP_MS: '60000' }),
  ]);
  token = await hsToken({ roles: ['host'] });
});
afterAll(async () => {
  await Promise.all([production.cleanup(), development.cleanup()]);
});

const SUBSCRIBE_BY_PROVIDER = 'subscription($p: Provider) { livestreamChanged(provider: $p) { id } }';

/** Operations whose errors graphql-js would end with a suggestion, and what the error still says. */
const CASES: { name: string; query: string; variables?: Record<string, unknown>; says: RegExp }[] = [
  {
    name: 'an enum value in the document',
    query: 'mutation { startLivestream(input: { roomId: "r", provider: SANDBOXX }) { __typename } }',
    says: /Value "SANDBOXX" does not exist in "Provider" enum\.$/,
  },
  {
    name: 'an input field in the document',
    query: 'mutation { startLivestream(input: { roomId: "r", meetingurl: "https://a.example" }) { __typename } }',
    says: /Field "meetingurl" is not defined by type "StartLivestreamInput"\.$/,
  },
  {
    name: 'a field',
    query: '{ activeLivestream(roomId: "r") { id } }',
    says: /^Cannot query field "activeLivestream" on type "Query"\.$/,
  },
  {
    name: 'an argument',
    query: '{ activeLivestreams(roomid: "r") { id } }',
    says: /^Unknown argument "roomid" on field "Query\.activeLivestreams"\.$/,
  },
  {
    name: 'a type',
    query: 'query($p: Providr) { activeLivestreams(provider: $p) { id } }',
    says: /^Unknown type "Providr"\.$/,
  },
  {
    name: 'an input field of a variable (coercion)',
    query: START_LIVESTREAM,
    variables: { input: { roomId: 'r', meetingurl: 'https://a.example' } },
    says: /Field "meetingurl" is not defined by type "StartLivestreamInput"\.$/,
  },
  {
    name: 'an enum value of a variable (coercion)',
    query: START_LIVESTREAM,
    variables: { input: { roomId: 'r', provider: 'SANDBOXX' } },
    says: /Value "SANDBOXX" does not exist in "Provider" enum\.$/,
  },
  {
    name: 'an enum value of a subscription variable (coercion)',
    query: SUBSCRIBE_BY_PROVIDER,
    variables: { p: 'SANDBOXX' },
    says: /Value "SANDBOXX" does not exist in "Provider" enum\.$/,
  },
];

/** The error messages one operation gets over a raw graphql-ws socket. */
async function messagesOverWebSocket(url: string, query: string, variables?: Record<string, unknown>) {
  const { socket, outcome } = await rawSocket(url, { params: { token } });
  expect(outcome).toBe('ack');
  try {
    const [first] = await operate(socket, '1', query, variables);
    // `error` carries the errors themselves; `next` a result with `errors`.
    const errors: { message: string }[] = first?.type === 'error' ? first.payload : (first?.payload?.errors ?? []);
    return errors.map((error) => error.message);
  } finally {
    socket.close();
  }
}

/** The error messages of a subscription over SSE. */
async function messagesOverSse(url: string, query: string, variables: Record<string, unknown>) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...bearer(token) },
    body: JSON.stringify({ query, variables }),
  });
  const text = await response.text();
  const messages: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('data:') || line.slice(5).trim() === '') continue;
    const data = JSON.parse(line.slice(5)) as { errors?: { message: string }[] };
    messages.push(...(data.errors ?? []).map((error) => error.message));
  }
  return messages;
}

describe('suggestions with introspection off (production)', () => {
  it.each(CASES)('are left out of the error for $name, over HTTP', async ({ query, variables, says }) => {
    const result = await gql(production.url, query, variables, bearer(token));
    const messages = (result.errors ?? []).map((error) => error.message);
    expect(messages.length, JSON.stringify(result)).toBeGreaterThan(0);
    expect(messages.join('\n')).not.toMatch(/Did you mean/);
    // Still a clear error about what the client sent.
    expect(
      messages.some((message) => says.test(message)),
      messages.join('\n'),
    ).toBe(true);
  });

  it.each(CASES)('are left out of the error for $name, over graphql-ws', async ({ query, variables, says }) => {
    const messages = await messagesOverWebSocket(production.wsUrl, query, variables);
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.join('\n')).not.toMatch(/Did you mean/);
    expect(
      messages.some((message) => says.test(message)),
      messages.join('\n'),
    ).toBe(true);
  });

  it('are left out of a subscription variable error over SSE', async () => {
    const messages = await messagesOverSse(production.url, SUBSCRIBE_BY_PROVIDER, { p: 'SANDBOXX' });
    expect(messages.length).toBeGreaterThan(0);
    expect(messages.join('\n')).not.toMatch(/Did you mean/);
    expect(messages.join('\n')).toMatch(/Value "SANDBOXX" does not exist in "Provider" enum\.$/m);
  });
});

describe('suggestions with introspection on (development)', () => {
  it('are kept, since the schema is public there anyway', async () => {
    const enumValue = await gql(development.url, START_LIVESTREAM, { input: { roomId: 'r', provider: 'SANDBOXX' } });
    expect(JSON.stringify(enumValue.errors)).toContain('Did you mean the enum value \\"SANDBOX\\"?');
    const field = await gql(development.url, START_LIVESTREAM, {
      input: { roomId: 'r', meetingurl: 'https://a.example' },
    });
    expect(JSON.stringify(field.errors)).toContain('Did you mean \\"meetingUrl\\"?');
  });
});
