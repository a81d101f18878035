import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Tests that are about SQLite itself (file modes, query plans, its own connection's cache stamp,
 * its transactions) or that run their own PostgreSQL databases (test/replicas, test/build: it also
 * rebuilds dist/) run once, on the SQLite project.
 */
const ONCE = [
  'test/security/at-rest.test.ts',
  'test/store-poll-queries.test.ts',
  'test/store-list-active-sqlite.test.ts',
  'test/store-one-active-sqlite.test.ts',
  'test/store-pending-plan.test.ts',
  'test/store-transactions.test.ts',
  'test/replicas/**',
  'test/config.test.ts',
  'test/build.test.ts',
];

export default defineConfig({
  resolve: {
    // graphql 16 has no "exports" map: Node loads its CommonJS build for the libraries, while Vite
    // would pick the ESM build for our code. Two copies break `instanceof GraphQLError`, so the
    // tests load the same copy Node does in production.
    alias: [
      { find: /^graphql$/, replacement: fileURLToPath(new URL('./node_modules/graphql/index.js', import.meta.url)) },
    ],
  },
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    pool: 'forks',
    setupFiles: ['test/support/setup.ts'],
    // The same suite on both stores (test/helpers.ts reads TEST_STORE).
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['test/**/*.test.ts'], env: { TEST_STORE: 'sqlite' } } },
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ['test/**/*.test.ts'],
          exclude: [...configDefaults.exclude, ...ONCE],
          env: { TEST_STORE: 'postgres' },
        },
      },
    ],
  },
});
