import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, startServer, type TestServer } from '../helpers.js';
import { bearer, hsToken, JWT_SECRET, rawSocket } from './support.js';

type KeyPair = Awaited<ReturnType<typeof generateKeyPair>>;

let jwksServer: Server;
let jwksRequests = 0;
let server: TestServer;
let rsa: KeyPair;
let ec: KeyPair;
let stranger: KeyPair;

const ISSUER = 'https://idp.example.test/';

function sign(key: KeyPair, alg: string, kid: string, roles: string[], issuer = ISSUER): Promise<string> {
  return new SignJWT({ roles })
    .setProtectedHeader({ alg, kid })
    .setSubject('jwks-user')
    .setIssuer(issuer)
    .setIssuedAt()
    .setExpirationTime('5m')
    .sign(key.privateKey);
}

beforeAll(async () => {
  rsa = await generateKeyPair('RS256');
  ec = await generateKeyPair('ES256');
  stranger = await generateKeyPair('RS256');
  const keys: JWK[] = [
    { ...(await exportJWK(rsa.publicKey)), kid: 'rsa-1', alg: 'RS256', use: 'sig' },
    { ...(await exportJWK(ec.publicKey)), kid: 'ec-1', alg: 'ES256', use: 'sig' },
  ];
  // A real identity provider's key set, served over real HTTP.
  jwksServer = createServer((req, res) => {
    jwksRequests++;
    if (req.url !== '/.well-known/jwks.json') {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
  const address = jwksServer.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  server = await startServer({
    AUTH_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    AUTH_ISSUER: ISSUER,
  });
});
afterAll(async () => {
  await server.cleanup();
  await new Promise((resolve) => jwksServer.close(resolve));
});

const READ = '{ providers { provider } }';

describe('authentication against a JWKS (AUTH_JWKS_URL)', () => {
  it('accepts RS256 and ES256 tokens signed by keys in the set', async () => {
    for (const token of [await sign(rsa, 'RS256', 'rsa-1', ['viewer']), await sign(ec, 'ES256', 'ec-1', ['viewer'])]) {
      const result = await gql(server.url, READ, undefined, bearer(token));
      expect(result.status).toBe(200);
      expect(result.data?.providers).toHaveLength(6);
    }
    expect(jwksRequests).toBeGreaterThan(0);
  });

  it('grants the host role from the token', async () => {
    const host = bearer(await sign(ec, 'ES256', 'ec-1', ['host']));
    const result = await gql(
      server.url,
      'mutation { startLivestream(input: { roomId: "jwks-room" }) { __typename } }',
      undefined,
      host,
    );
    expect(result.data?.startLivestream.__typename).toBe('StartLivestreamSuccess');
  });

  it('refuses a token signed by a key outside the set, and an HS256 token', async () => {
    const foreign = await sign(stranger, 'RS256', 'rsa-1', ['host']);
    const symmetric = await hsToken({ roles: ['host'], issuer: ISSUER, secret: JWT_SECRET });
    for (const token of [foreign, symmetric]) {
      const result = await gql(server.url, READ, undefined, bearer(token));
      expect(result.status).toBe(401);
      expect(result.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    }
  });

  it('refuses a token from another issuer even when signed by a trusted key', async () => {
    const result = await gql(
      server.url,
      READ,
      undefined,
      bearer(await sign(rsa, 'RS256', 'rsa-1', ['host'], 'https://other.example/')),
    );
    expect(result.status).toBe(401);
  });

  it('answers 500 (not 401) while the key set cannot be fetched: the outage is ours', async () => {
    const unreachable = await startServer({ AUTH_JWKS_URL: 'http://127.0.0.1:9/jwks.json' });
    try {
      const token = await sign(rsa, 'RS256', 'rsa-1', ['viewer']);
      const result = await gql(unreachable.url, READ, undefined, bearer(token));
      expect(result.status).toBe(500);
      expect(result.errors?.[0]?.message).toBe('Unexpected error.');
      // A request without a token is still the caller's problem.
      expect((await gql(unreachable.url, READ)).status).toBe(401);
    } finally {
      await unreachable.cleanup();
    }
  });

  it('verifies WebSocket connections the same way', async () => {
    const good = await rawSocket(server.wsUrl, { params: { token: await sign(rsa, 'RS256', 'rsa-1', ['viewer']) } });
    expect(good.outcome).toBe('ack');
    good.socket.close();
    const bad = await rawSocket(server.wsUrl, {
      params: { token: await sign(stranger, 'RS256', 'rsa-1', ['viewer']) },
    });
    expect(bad.code).toBe(4401);
  });
});
