import { afterAll } from 'vitest';
import { dropTestDatabases } from '../helpers.js';

// Every PostgreSQL database a test file created is dropped when it ends (one still open included).
afterAll(async () => {
  await dropTestDatabases();
});
