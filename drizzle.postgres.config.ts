import { defineConfig } from 'drizzle-kit';

// PostgreSQL migrations (several replicas); the SQLite ones live in drizzle.config.ts.
export default defineConfig({
  dialect: 'postgresql',
  schema: './src/store/postgres/tables.ts',
  out: './drizzle/postgres',
});
