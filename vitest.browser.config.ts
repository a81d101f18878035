import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * `npm run test:browser`: the status page in a real headless Chromium (Debian's `chromium`, see
 * the README). Not part of `npm test`, which needs no browser.
 */
export default defineConfig({
  resolve: base.resolve,
  test: {
    include: ['test/browser/**/*.e2e.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
