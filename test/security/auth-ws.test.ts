import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { collect, gql, START_LIVESTREAM, startServer, type TestServer, wsClient } from '../helpers.js';
import { bearer, closed, HS256_ENV, hsToken, operate, rawSocket } from './support.js';

let server: TestServer;
let hostToken: string;
let viewerToken: string;

beforeAll(async () => {
  server = await startServer({ ...HS256_ENV, SANDBOX_STEP_MS: '60000' });
  hostToken = await hsToken({ roles: ['host'] });
  viewerToken = await hsToken({ roles: ['viewer'] });
});
afterAll(async () => {
  await server.cleanup();
});

const WATCH =
  'subscription($room: String!) { livestreamChanged(roomId: $room) { roomId status ingest { streamKey } } }';

describe('authentication over WebSocket', () => {
  it.each([
    ['connectionParams.authorization (Bearer)', () => ({ params: { authorization: `Bearer ${viewerToken}` } })],
    ['connectionParams.Authorization (bare)', () => ({ params: { Authorization: viewerToken } })],
    ['connectionParams.token (Apollo Router)', () => ({ params: { token: viewerToken } })],
    ['the upgrade request header', () => ({ headers: bearer(viewerToken) })],
  ])('accepts a token in %s', async (_label, where) => {
    const { outcome, socket } = await rawSocket(server.wsUrl, where());
    expect(outcome).toBe('ack');
    socket.close();
  });

  it.each([
    ['no token', async () => ({})],
    ['a garbage token', async () => ({ params: { authorization: 'Bearer nope' } })],
    [
      'an expired token',
      async () => ({
        params: { token: await hsToken({ roles: ['host'], expiresIn: Math.floor(Date.now() / 1000) - 5 }) },
      }),
    ],
    [
      'a token from another issuer',
      async () => ({ headers: bearer(await hsToken({ roles: ['host'], issuer: 'https://evil.example/' })) }),
    ],
  ])('refuses %s at connection_init with close 4401', async (_label, where) => {
    const result = await rawSocket(server.wsUrl, await where());
    expect(result.outcome).toBe('closed');
    expect(result.code).toBe(4401);
  });

  it('lets a viewer subscribe, with the stream key null, and a host see it', async () => {
    const asViewer = wsClient(server.wsUrl, { authorization: `Bearer ${viewerToken}` });
    const asHost = wsClient(server.wsUrl, { token: hostToken });
    const viewerWatch = collect(asViewer, WATCH, { room: 'ws-auth' });
    const hostWatch = collect(asHost, WATCH, { room: 'ws-auth' });
    await new Promise((resolve) => setTimeout(resolve, 150));
    await gql(server.url, START_LIVESTREAM, { input: { roomId: 'ws-auth' } }, bearer(hostToken));
    const [seenByViewer] = await viewerWatch.waitFor(1);
    const [seenByHost] = await hostWatch.waitFor(1);
    expect(viewerWatch.errors).toEqual([]);
    expect(seenByViewer.livestreamChanged).toEqual({ roomId: 'ws-auth', status: 'STARTING', ingest: null });
    expect(seenByHost.livestreamChanged.roomId).toBe('ws-auth');
    await asViewer.dispose();
    await asHost.dispose();
  });

  it('shows a viewer a null stream key over WebSocket, and a host the key', async () => {
    const started = await gql(server.url, START_LIVESTREAM, { input: { roomId: 'ws-key' } }, bearer(hostToken));
    const id = started.data?.startLivestream.livestream.id;
    const query = 'query($id: ID!) { livestream(id: $id) { ingest { streamKey } } }';
    const viewer = await rawSocket(server.wsUrl, { params: { token: viewerToken } });
    const host = await rawSocket(server.wsUrl, { params: { token: hostToken } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    const [viewerResult] = await operate(viewer.socket, '1', query, { id });
    const [hostResult] = await operate(host.socket, '1', query, { id });
    expect(viewerResult?.payload.data.livestream.ingest).toEqual({ streamKey: null });
    expect(hostResult?.payload.data.livestream.ingest.streamKey).toMatch(/^sk_/);
    viewer.socket.close();
    host.socket.close();
  });

  it("answers a viewer's mutation over WebSocket with ForbiddenError; a host's succeeds", async () => {
    const viewer = await rawSocket(server.wsUrl, { params: { token: viewerToken } });
    const host = await rawSocket(server.wsUrl, { params: { token: hostToken } });
    const mutation =
      'mutation { startLivestream(input: { roomId: "ws-mutation" }) { __typename ... on Error { code } } }';
    const [refused] = await operate(viewer.socket, '1', mutation);
    expect(refused?.payload.data.startLivestream).toEqual({ __typename: 'ForbiddenError', code: 'FORBIDDEN' });
    const [allowed] = await operate(host.socket, '1', mutation);
    expect(allowed?.payload.data.startLivestream).toEqual({ __typename: 'StartLivestreamSuccess' });
    viewer.socket.close();
    host.socket.close();
  });

  it('refuses a subscription to a token without a role', async () => {
    const nobody = await rawSocket(server.wsUrl, { params: { token: await hsToken({ roles: [] }) } });
    expect(nobody.outcome).toBe('ack');
    const messages = await operate(nobody.socket, '1', WATCH, { room: 'ws-nobody' });
    expect(messages[0]?.type).toBe('next');
    expect(messages[0]?.payload.errors[0].extensions.code).toBe('FORBIDDEN');
    nobody.socket.close();
  });

  it('closes the socket with 4401 when its token expires', async () => {
    const shortLived = await hsToken({ roles: ['viewer'], expiresIn: Math.floor(Date.now() / 1000) + 2 });
    const { outcome, socket } = await rawSocket(server.wsUrl, { params: { token: shortLived } });
    expect(outcome).toBe('ack');
    const { code, reason } = await closed(socket);
    expect(code).toBe(4401);
    expect(reason).toMatch(/expired/i);
  });
});
