import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '../..');

describe('PostgreSQL migrations', () => {
  it('match src/store/postgres/tables.ts (run `npm run db:generate:pg` after changing it)', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'pg-migrations-'));
    try {
      cpSync(join(root, 'drizzle/postgres'), join(folder, 'out'), { recursive: true });
      const before = readdirSync(join(folder, 'out'));
      const config = join(folder, 'drizzle.config.mjs');
      writeFileSync(
        config,
        `export default ${JSON.stringify({
          dialect: 'postgresql',
          schema: join(root, 'src/store/postgres/tables.ts'),
          out: 'out',
        })};\n`,
      );
      const { stdout, stderr } = await run(
        join(root, 'node_modules/.bin/drizzle-kit'),
        ['generate', '--config', config],
        {
          cwd: folder,
        },
      );
      expect(`${stdout}${stderr}`).toContain('No schema changes');
      expect(readdirSync(join(folder, 'out'))).toEqual(before);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
