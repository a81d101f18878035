import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type TestServer } from '../helpers.js';

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
});
