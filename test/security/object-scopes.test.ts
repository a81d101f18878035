import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, START_LIVESTREAM, startServer, type TestServer } from '../helpers.js';
import { bearer, HS256_ENV, hsToken } from './support.js';

// Objects carry no scopes of their own: every way to one (a root field, `_entities`) is guarded.
let server: TestServer;
let host: Record<string, string>;
let viewer: Record<string, string>;
let nobody: Record<string, string>;
let livestreamId: string;
let recordingId: string;

beforeAll(async () => {
  server = await startServer({ ...HS256_ENV, SANDBOX_STEP_MS: '60000' });
  host = bearer(await hsToken({ roles: ['host'] }));
  viewer = bearer(await hsToken({ roles: ['viewer'] }));
  nobody = bearer(await hsToken({ roles: ['admin'] }));
  const started = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'scopes-room' } }, host);
  livestreamId = started.data?.startLivestream.livestream.id;
  const recording = await gql(
    server.url,
    'mutation { startRecording(input: { roomId: "scopes-room" }) { ... on StartRecordingSuccess { recording { id } } } }',
    undefined,
    host,
  );
  recordingId = recording.data?.startRecording.recording.id;
});
afterAll(async () => {
  await server.cleanup();
});

const ENTITIES = `query($r: [_Any!]!) { _entities(representations: $r) {
  ... on Livestream { id status ingest { streamKey } }
  ... on Recording { id recordingStatus: status }
  ... on Room { id livestreams { id } }
} }`;

describe('object scopes', () => {
  it('refuses every Query field to a caller without a role, and shows it no object', async () => {
    for (const query of [
      '{ activeLivestreams { id } }',
      '{ activeRecordings { id } }',
      '{ livestreams { edges { node { id } } } }',
      '{ recordings { edges { node { id } } } }',
      `{ livestream(id: "${livestreamId}") { id } }`,
      `{ recording(id: "${recordingId}") { id } }`,
    ]) {
      const result = await gql(server.url, query, undefined, nobody);
      // Nullable fields answer null, the others take `data` with them.
      expect(Object.values(result.data ?? {}), query).toEqual(result.data ? [null] : []);
      expect(
        result.errors?.map((error) => error.extensions?.code),
        query,
      ).toEqual(['FORBIDDEN']);
    }
  });

  it('refuses _entities of every entity type to a caller without a role, before judging them', async () => {
    const result = await gql(
      server.url,
      ENTITIES,
      {
        r: [
          { __typename: 'Livestream', id: livestreamId },
          { __typename: 'Recording', id: recordingId },
          { __typename: 'Room', id: 'scopes-room' },
          { __typename: 'Nothing', id: '' },
        ],
      },
      nobody,
    );
    expect(result.data ?? null).toBeNull();
    expect(result.errors).toHaveLength(1);
    expect(result.errors?.[0]).toMatchObject({ path: ['_entities'], extensions: { code: 'FORBIDDEN' } });
  });

  it('answers _entities of every entity type to a viewer, stream keys withheld', async () => {
    const r = [
      { __typename: 'Livestream', id: livestreamId },
      { __typename: 'Recording', id: recordingId },
      { __typename: 'Room', id: 'scopes-room' },
    ];
    const asViewer = await gql(server.url, ENTITIES, { r }, viewer);
    expect(asViewer.errors).toBeUndefined();
    expect(asViewer.data?._entities).toEqual([
      { id: livestreamId, status: expect.any(String), ingest: { streamKey: null } },
      { id: recordingId, recordingStatus: expect.any(String) },
      { id: 'scopes-room', livestreams: [{ id: livestreamId }] },
    ]);
    const asHost = await gql(server.url, ENTITIES, { r }, host);
    expect(asHost.data?._entities[0].ingest.streamKey).toMatch(/^sk_/);
  });

  it('withholds every stream key of a list from a viewer, and shows each to a host', async () => {
    const query = '{ activeLivestreams { id ingest { streamKey } } }';
    const asViewer = await gql(server.url, query, undefined, viewer);
    expect(asViewer.errors).toBeUndefined();
    expect(asViewer.data?.activeLivestreams.length).toBeGreaterThan(0);
    for (const stream of asViewer.data?.activeLivestreams ?? []) expect(stream.ingest).toEqual({ streamKey: null });
    const asHost = await gql(server.url, query, undefined, host);
    for (const stream of asHost.data?.activeLivestreams ?? []) expect(stream.ingest.streamKey).toMatch(/^sk_/);
  });
});
