import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteSessionStore, SqliteStreamStore } from '../src/index.js';

// health() answers whether the database would take a write now: `SELECT 1` passes another
// writer's lock and a read-only connection, writes do not.

const dir = mkdtempSync(join(tmpdir(), 'stowage-sqlite-health-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('health() checks writes', () => {
  it('not ok while another connection holds the write lock past the wait, ok once it lets go; nothing written', async () => {
    const file = join(dir, 'locked.db');
    const database = new Database(file);
    const store = new SqliteStreamStore({ database });
    const other = new Database(file);
    try {
      expect(await store.health()).toEqual({ ok: true, latencyMs: expect.any(Number) });
      const changes = database.prepare('SELECT total_changes() AS n').pluck();
      const before = changes.get();
      other.exec('BEGIN IMMEDIATE');
      const locked = await store.health({ timeoutMs: 200 });
      expect(locked).toEqual({ ok: false, latencyMs: expect.any(Number), error: expect.stringMatching(/locked|busy/i) });
      other.exec('ROLLBACK');
      expect(await store.health()).toEqual({ ok: true, latencyMs: expect.any(Number) });
      expect(changes.get()).toBe(before);
    } finally {
      other.close();
      await store.close();
      database.close();
    }
  });

  it('not ok on a connection opened read-only or set query_only', async () => {
    const file = join(dir, 'read-only.db');
    const writable = new Database(file);
    const made = new SqliteSessionStore({ database: writable });
    expect(await made.health()).toEqual({ ok: true, latencyMs: expect.any(Number) });
    const readOnly = new Database(file, { readonly: true });
    const store = new SqliteSessionStore({ database: readOnly, configure: false, migrate: false });
    expect(await store.health()).toEqual({ ok: false, latencyMs: expect.any(Number), error: expect.stringMatching(/read-only/) });
    writable.pragma('query_only = 1');
    expect(await made.health()).toEqual({ ok: false, latencyMs: expect.any(Number), error: expect.stringMatching(/query_only/) });
    writable.pragma('query_only = 0');
    expect(await made.health()).toEqual({ ok: true, latencyMs: expect.any(Number) });
    await store.close();
    await made.close();
    readOnly.close();
    writable.close();
  });
});
