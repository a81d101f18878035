import { expect } from 'vitest';
import { gql, type TestServer, waitFor } from '../helpers.js';

/** What a resuming subscriber selects: enough to compare with each stream's history. */
export const CHANGE_FIELDS = 'id roomId status version changeCursor';

export interface Change {
  id: string;
  roomId: string;
  status: string;
  version: number;
  changeCursor: string;
}

export const WATCH_ROOM = `subscription Watch($roomId: String, $after: String) {
  livestreamChanged(roomId: $roomId, after: $after) { ${CHANGE_FIELDS} }
}`;
export const WATCH_ID = `subscription Watch($id: ID, $after: String) {
  livestreamChanged(id: $id, after: $after) { ${CHANGE_FIELDS} }
}`;

/** Starts a sandbox livestream in `roomId`; answers its id and the cursor the mutation gave. */
export async function start(
  url: string,
  roomId: string,
): Promise<{ id: string; version: number; changeCursor: string }> {
  const answer = await gql(
    url,
    `mutation($roomId: String!) { startLivestream(input: { roomId: $roomId }) {
      __typename ... on StartLivestreamSuccess { livestream { id version changeCursor } } ... on Error { code message } } }`,
    { roomId },
  );
  const livestream = answer.data?.startLivestream?.livestream;
  if (!livestream) throw new Error(`start failed: ${JSON.stringify(answer)}`);
  return livestream;
}

export async function stop(url: string, id: string): Promise<void> {
  const answer = await gql(url, 'mutation($id: ID!) { stopLivestream(input: { id: $id }) { __typename } }', { id });
  expect(answer.data?.stopLivestream?.__typename).toBe('StopLivestreamSuccess');
}

export async function current(
  url: string,
  id: string,
): Promise<{ status: string; version: number; changeCursor: string }> {
  const answer = await gql(url, 'query($id: ID!) { livestream(id: $id) { status version changeCursor } }', { id });
  return answer.data?.livestream;
}

/** One whole life of a sandbox livestream in `roomId`: started, LIVE, stopped, STOPPED. Answers its id. */
export async function cycle(url: string, roomId: string): Promise<string> {
  const { id } = await start(url, roomId);
  await waitFor(async () => (await current(url, id)).status === 'LIVE');
  await stop(url, id);
  await waitFor(async () => (await current(url, id)).status === 'STOPPED');
  return id;
}

/** Each stream's applied history (version, status), oldest first, as the API shows it. */
export async function appliedHistory(url: string, ids: readonly string[]): Promise<Map<string, Change[]>> {
  const histories = new Map<string, Change[]>();
  for (const id of ids) {
    const answer = await gql(
      url,
      'query($id: ID!) { livestream(id: $id) { id roomId history(last: 1000) { status version applied } } }',
      { id },
    );
    const livestream = answer.data?.livestream;
    histories.set(
      id,
      livestream.history
        .filter((event: { applied: boolean }) => event.applied)
        .map((event: { status: string; version: number }) => ({ id, roomId: livestream.roomId, ...event })),
    );
  }
  return histories;
}

/**
 * Asserts that `received` is exactly the history after `seen` (the last version of each stream a
 * subscriber had before its cursor; 0 for streams it never saw): per stream every later applied
 * version once and in order with its status, in one order of strictly increasing cursors.
 */
export async function expectHistoryAfter(
  url: string,
  received: readonly Change[],
  seen: ReadonlyMap<string, number>,
  ids: readonly string[],
): Promise<void> {
  const histories = await appliedHistory(url, ids);
  for (const id of ids) {
    const expected = (histories.get(id) ?? [])
      .filter((event) => event.version > (seen.get(id) ?? 0))
      .map(({ status, version }) => ({ status, version }));
    const got = received.filter((change) => change.id === id).map(({ status, version }) => ({ status, version }));
    // The API shows at most the latest 1,000 events: older versions are checked by number only
    // (applied versions are consecutive), the shown ones with their status.
    const firstShown = expected[0]?.version ?? (seen.get(id) ?? 0) + 1;
    const hidden = got.filter((change) => change.version < firstShown);
    expect(
      hidden.map((change) => change.version),
      `stream ${id} (older than its shown history)`,
    ).toEqual(Array.from({ length: firstShown - 1 - (seen.get(id) ?? 0) }, (_, i) => (seen.get(id) ?? 0) + 1 + i));
    expect(got.slice(hidden.length), `stream ${id}`).toEqual(expected);
  }
  const unknown = received.filter((change) => !ids.includes(change.id));
  expect(unknown).toEqual([]);
  const cursors = received.map((change) => change.changeCursor);
  expect(new Set(cursors).size).toBe(cursors.length);
}

/** The last version of each stream among `changes`. */
export function lastVersions(changes: readonly Change[]): Map<string, number> {
  const versions = new Map<string, number>();
  for (const change of changes) versions.set(change.id, change.version);
  return versions;
}

/**
 * `n` changes of a LIVE sandbox livestream as its vendor reports them (each a new vendor status),
 * through the same intake the sandbox's own reports reach: real commits, fast. Gives way to the
 * event loop every `every` changes, so the server serves subscribers meanwhile. `padding` makes each
 * vendor status (and so each event) that much larger.
 */
export async function vendorChanges(server: TestServer, id: string, n: number, every = 1, padding = ''): Promise<void> {
  const stream = await server.app.services.store.streams.get('livestream', id);
  if (!stream?.externalId) throw new Error(`no vendor id for ${id}`);
  for (let i = 0; i < n; i++) {
    await server.app.intake.receive({
      provider: 'SANDBOX',
      kind: 'livestream',
      externalId: stream.externalId,
      roomId: stream.roomId,
      eventId: `${id}:burst:${crypto.randomUUID()}`,
      observation: { status: 'LIVE', vendorStatus: `live-${i}${padding}` },
      payload: { type: 'livestream.live', index: i },
    });
    if ((i + 1) % every === 0) await new Promise((resolve) => setImmediate(resolve));
  }
}
