import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { holdLock } from './sqlite-lock-holder.js';

// A new SQLite file whose write lock another process holds when the server starts: the store
// cannot switch it to WAL within its wait. That is a failure of the moment, not a bad option:
// exit 1 (a process manager tries again), with a message that says the database is locked.

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'stowage-ds-locked-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the CLI on a SQLite file locked by another process at start', () => {
  it('exits 1, not 2, naming the lock', async () => {
    const file = join(dir, 'locked.db');
    const lock = await holdLock(file);
    try {
      const r = spawnSync(process.execPath, [CLI, '--port', '0', '--store', `sqlite:${file}`], {
        encoding: 'utf8',
        env: { PATH: process.env['PATH'] },
        timeout: 40_000,
      });
      expect(r.stderr).toMatch(/^stowage-streams: .*locked.*\n$/);
      expect(r.status).toBe(1);
    } finally {
      await lock.release();
    }
  }, 60_000);
});
