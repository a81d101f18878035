import { type AuditResult, serverAudits } from 'graphql-http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from './helpers.js';

/**
 * The GraphQL-over-HTTP spec's server audits, from the `graphql-http` reference implementation,
 * run against the real service. A `MUST` the server breaks is an `error` and fails the test; a
 * `SHOULD` (`warn`) or `MAY` (`notice`) it does not follow is shown as an annotation on its test.
 * The GET audits that send no CSRF header end as notices: yoga's CSRF prevention refuses them
 * (403) on purpose, since a browser can send a GET cross-site without a preflight.
 */
let server: TestServer;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.cleanup();
});

describe('GraphQL over HTTP (graphql-http server audits)', () => {
  for (const audit of serverAudits({ url: () => server.url })) {
    it(audit.name, async ({ annotate }) => {
      const result: AuditResult = await audit.fn();
      if (result.status === 'ok') return;
      const detail = `${result.reason}\n${JSON.stringify(await describeResponse(result.response))}`;
      // Only a broken MUST fails; a SHOULD (warn) or MAY (notice) not followed is reported.
      if (result.status === 'error') expect.fail(`${audit.id} ${audit.name}: ${detail}`);
      await annotate(detail, result.status === 'warn' ? 'warning' : 'notice');
    });
  }
});

async function describeResponse(response: Response): Promise<Record<string, unknown>> {
  let body: string;
  try {
    body = await response.clone().text();
  } catch {
    body = '(body already read)';
  }
  return { status: response.status, headers: Object.fromEntries(response.headers), body };
}
