import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gql, START_LIVESTREAM, STOP_LIVESTREAM, startServer, type TestServer, waitFor } from '../helpers.js';
import { HS256_ENV, hsToken } from '../security/support.js';
import { startTcpProxy } from '../support/tcp-proxy.js';

/** Debian's chromium (`apt-get install -y chromium`); CHROMIUM_PATH points elsewhere. */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

describe('the status page in a real browser', () => {
  let server: TestServer;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];

  beforeAll(async () => {
    // Slow enough sandbox steps that a person (and this test) sees STARTING before LIVE.
    server = await startServer({ SANDBOX_STEP_MS: '400' });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
    page = await browser.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') problems.push(`console: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`page: ${error.message}`));
  });
  afterAll(async () => {
    await browser?.close();
    await server?.cleanup();
  });

  it('starts a sandbox livestream, watches it turn LIVE, stops it and sees it end, without reloading', async () => {
    let loads = 0;
    page.on('load', () => loads++);
    await page.goto(`http://127.0.0.1:${server.port}/`);
    await page.locator('#connection[data-state="live"]').waitFor();
    expect(await page.locator('#streams tbody tr').count()).toBe(0);

    await page.locator('#start-livestream').click();
    const row = page.locator('#streams tbody tr[data-kind="livestream"]').first();
    await row.waitFor();
    expect(await row.locator('td').nth(1).textContent()).toBe('SANDBOX');
    await row.locator('.status[data-status="LIVE"]').waitFor();
    expect(await page.locator('#feed li').count()).toBeGreaterThanOrEqual(2);

    await row.locator('button.stop').click();
    await row.locator('.status[data-status="STOPPED"]').waitFor();
    await page.locator('#feed li', { hasText: 'STOPPED' }).first().waitFor();
    expect(await row.getAttribute('class')).toBe('ended');

    // The vendor table saw the sandbox's calls (refreshed every 10 s; read it now).
    const dir = mkdtempSync(join(tmpdir(), 'status-page-'));
    const screenshot = join(dir, 'status-page.png');
    await page.screenshot({ path: screenshot, fullPage: true });
    console.info(`status page screenshot: ${screenshot}`);

    expect(loads).toBe(1);
    expect(problems).toEqual([]);
  });

  it('resumes after a dropped connection with the changes it missed while away (after: its last cursor)', async () => {
    // The page reaches the service through a proxy the test cuts, as a sleeping laptop would.
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: server.port });
    const watcher = await browser.newPage();
    try {
      const resumed: string[] = [];
      const pageErrors: string[] = [];
      watcher.on('pageerror', (error) => pageErrors.push(error.message));
      watcher.on('request', (request) => {
        const body = request.postData() ?? '';
        if (request.url().endsWith('/graphql') && body.includes('"after"')) resumed.push(body);
      });
      await watcher.goto(`http://127.0.0.1:${proxy.port}/`);
      await watcher.locator('#connection[data-state="live"]').waitFor();
      await watcher.locator('#start-livestream').click();
      const row = watcher.locator('#streams tbody tr[data-kind="livestream"]').first();
      await row.locator('.status[data-status="LIVE"]').waitFor();
      const id = await row.getAttribute('data-id');
      expect(id).toBeTruthy();

      await proxy.cut();
      await watcher.locator('#connection[data-state="down"]').waitFor();
      await gql(server.url, STOP_LIVESTREAM, { id });
      await waitFor(async () => {
        const answer = await gql(server.url, 'query ($id: ID!) { livestream(id: $id) { status } }', { id });
        return answer.data?.livestream?.status === 'STOPPED';
      });

      // Back online: the stopped stream is no longer active, so only a resumed subscription tells.
      await proxy.restore();
      await row.locator('.status[data-status="STOPPED"]').waitFor({ timeout: 30_000 });
      expect(resumed.length).toBeGreaterThan(0);
      expect(pageErrors).toEqual([]);
    } finally {
      await watcher.close();
      await proxy.close();
    }
  });

  it('in production asks for a token, shows nothing without a valid one, and the streams with a viewer token', async () => {
    const production = await startServer({ NODE_ENV: 'production', ...HS256_ENV });
    try {
      const host = await hsToken({ roles: ['host'] });
      await gql(
        production.url,
        START_LIVESTREAM,
        { input: { roomId: 'production-room' } },
        { authorization: `Bearer ${host}` },
      );
      const guarded = await browser.newPage();
      await guarded.goto(`http://127.0.0.1:${production.port}/`);
      await guarded.locator('#token-form').waitFor();
      expect(await guarded.locator('#dashboard').isHidden()).toBe(true);
      expect(await guarded.locator('body').textContent()).not.toContain('production-room');

      await guarded.locator('#token').fill('not-a-token');
      await guarded.locator('#token-form button').click();
      await guarded.locator('#token-error', { hasText: 'refused' }).waitFor();
      expect(await guarded.locator('#dashboard').isHidden()).toBe(true);

      await guarded.locator('#token').fill(await hsToken({ roles: ['viewer'] }));
      await guarded.locator('#token-form button').click();
      await guarded.locator('#streams tbody tr td.room', { hasText: 'production-room' }).waitFor();
      await guarded.locator('#connection[data-state="live"]').waitFor();
      expect(await guarded.locator('#token-form').isHidden()).toBe(true);
      await guarded.close();
    } finally {
      await production.cleanup();
    }
  });
});
