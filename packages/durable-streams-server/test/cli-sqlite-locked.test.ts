import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

// A new SQLite file whose write lock another process holds when the server starts: the store
// cannot switch it to WAL within its wait. That is a failure of the moment, not a bad option:
// exit 1 (a process manager tries again), with a message that says the database is locked.

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'stowage-ds-locked-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HOLDER = `
const db = new (require('better-sqlite3'))(process.argv[1], { timeout: 0 });
db.exec('BEGIN IMMEDIATE');
process.stdout.write('locked\\n');
process.stdin.once('data', () => { db.exec('ROLLBACK'); db.close(); process.exit(0); });
setTimeout(() => process.exit(1), 60_000);
`;

describe('the CLI on a SQLite file locked by another process at start', () => {
  it('exits 1, not 2, naming the lock', async () => {
    const file = join(dir, 'locked.db');
    const holder = spawn(process.execPath, ['-e', HOLDER, file], { cwd: import.meta.dirname, stdio: ['pipe', 'pipe', 'inherit'] });
    const exited = new Promise((resolve) => holder.once('exit', resolve));
    await new Promise((resolve) => holder.stdout!.once('data', resolve));
    try {
      const r = spawnSync(process.execPath, [CLI, '--port', '0', '--store', `sqlite:${file}`], {
        encoding: 'utf8',
        env: { PATH: process.env['PATH'] },
        timeout: 40_000,
      });
      expect(r.stderr).toMatch(/^stowage-streams: .*locked.*\n$/);
      expect(r.status).toBe(1);
    } finally {
      holder.stdin!.end('release\n');
      await exited;
    }
  }, 60_000);
});
