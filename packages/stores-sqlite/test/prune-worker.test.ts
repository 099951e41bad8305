import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestClock, expectCode } from '@stowage/conformance';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteRateLimitStore, SqliteSessionStore, SqliteStreamStore } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'stowage-sqlite-prune-worker-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const fileDb = () => new Database(join(dir, `db-${files++}.sqlite`));

/** `expired` sessions that expired at 1 and `live` that never do, written straight into the table. */
function loadSessions(db: Database.Database, expired: number, live: number): void {
  const insert = db.prepare(`INSERT INTO stowage_sessions (id, data, version, expires_at) VALUES (?, x'00', 1, ?)`);
  db.transaction(() => {
    for (let i = 0; i < expired + live; i++) insert.run(`k${i}`, i < expired ? 1 : 9e15);
  })();
}

const countOf = (db: Database.Database, table: string) => (db.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

describe('pruneInWorker', () => {
  it('deletes exactly the expired rows of each store, in batches, off the store connection', async () => {
    const clock = createTestClock();
    const db = fileDb();
    const sessions = new SqliteSessionStore({ database: db, clock, pruneBatchSize: 1000, pruneInWorker: true });
    const limits = new SqliteRateLimitStore({ database: db, clock, pruneBatchSize: 7, pruneInWorker: true });
    await sessions.get('x'); // migrates
    loadSessions(db, 2500, 100);
    const policy = { algorithm: 'fixed-window', limit: 5, windowMs: 1000 } as const;
    for (let i = 0; i < 30; i++) await limits.consume(`r${i}`, policy);
    clock.advance(1000);
    await limits.consume('live', policy);
    expect(await sessions.prune()).toBe(2500);
    expect(await limits.prune()).toBe(30);
    expect(countOf(db, 'stowage_sessions')).toBe(100);
    expect(countOf(db, 'stowage_rate_limits')).toBe(1);
    expect(await sessions.prune()).toBe(0);
    await sessions.close();
    await limits.close();
    db.close();
  });

  it('prunes while the event loop is held: its batches never wait for a turn of it', async () => {
    const clock = createTestClock();
    const db = fileDb();
    const store = new SqliteSessionStore({ database: db, clock, pruneBatchSize: 100, pruneInWorker: true });
    await store.get('x');
    loadSessions(db, 5000, 10);
    const pruned = store.prune();
    // Hold the event loop (no await) until the worker has deleted more than a batch, or 20 s.
    // A prune on the event loop deletes its first batch before prune() returns and no more
    // until the loop turns, so it would stay at 4910 here.
    const pause = new Int32Array(new SharedArrayBuffer(4));
    let left = countOf(db, 'stowage_sessions');
    for (let waited = 0; left >= 5010 - 200 && waited < 20_000; waited += 5) {
      Atomics.wait(pause, 0, 0, 5);
      left = countOf(db, 'stowage_sessions');
    }
    expect(left).toBeLessThan(5010 - 200);
    expect(await pruned).toBe(5000);
    expect(countOf(db, 'stowage_sessions')).toBe(10);
    await store.close();
    db.close();
  });

  it('a prune that meets another connection holding the write lock fails with TIMEOUT, and the next one prunes', async () => {
    const clock = createTestClock();
    const db = fileDb();
    const store = new SqliteSessionStore({ database: db, clock, busyTimeoutMs: 0, pruneInWorker: true });
    await store.get('x');
    loadSessions(db, 50, 0);
    const other = new Database(db.name);
    other.exec('BEGIN IMMEDIATE');
    await expectCode(store.prune(), 'TIMEOUT');
    other.exec('ROLLBACK');
    other.close();
    expect(await store.prune()).toBe(50);
    await store.close();
    db.close();
  });

  it('after close(), prune() is UNAVAILABLE, and a prune in flight when the last store closes is refused', async () => {
    const clock = createTestClock();
    const db = fileDb();
    const store = new SqliteSessionStore({ database: db, clock, pruneBatchSize: 10, pruneInWorker: true });
    await store.get('x');
    loadSessions(db, 20_000, 0);
    const inFlight = store.prune();
    await store.close();
    await expectCode(inFlight, 'UNAVAILABLE');
    await expectCode(store.prune(), 'UNAVAILABLE');
    db.close();
  });

  it('a process that never closes its store exits by itself, and not while a prune it awaits runs', () => {
    const fixture = join(import.meta.dirname, 'fixtures/prune-exit.mjs');
    const run = (mode: string) => {
      const cwd = join(dir, `exit-${mode}`);
      mkdirSync(cwd);
      return spawnSync(process.execPath, [fixture, cwd, mode], { encoding: 'utf8', timeout: 60_000 });
    };
    const awaited = run('await');
    expect([awaited.status, awaited.signal, awaited.stderr]).toEqual([0, null, '']);
    expect(awaited.stdout).toBe('20000 0\n');
    // A relative path, then chdir into a directory with another file of that name: the worker
    // prunes the file the connection opened (5 rows), not the other one (7 rows).
    const moved = run('chdir');
    expect([moved.status, moved.stderr]).toEqual([0, '']);
    expect(moved.stdout).toBe('5 0 7\n');
  });

  it('closing one store twice does not stop the worker another store is using', async () => {
    const clock = createTestClock();
    const db = fileDb();
    const a = new SqliteSessionStore({ database: db, clock, tablePrefix: 'a_', pruneInWorker: true });
    const b = new SqliteSessionStore({ database: db, clock, pruneBatchSize: 10, pruneInWorker: true });
    await a.get('x');
    await b.get('x');
    loadSessions(db, 20_000, 0);
    const inFlight = b.prune();
    await a.close();
    await a.close();
    expect(await inFlight).toBe(20_000);
    await b.close();
    db.close();
  });

  it('a read-only database stays unchanged: the prune is UNAVAILABLE, as on the event loop', async () => {
    const clock = createTestClock();
    const db = fileDb();
    await new SqliteSessionStore({ database: db, clock }).get('x');
    loadSessions(db, 4, 0);
    db.close();
    const readonly = new Database(db.name, { readonly: true });
    const store = new SqliteSessionStore({ database: readonly, clock, configure: false, pruneInWorker: true });
    await expectCode(store.prune(), 'UNAVAILABLE');
    expect(countOf(readonly, 'stowage_sessions')).toBe(4);
    await store.close();
    readonly.close();
  });

  it('after the application closes its connection, prune() is UNAVAILABLE and deletes nothing', async () => {
    const clock = createTestClock();
    const db = fileDb();
    const store = new SqliteSessionStore({ database: db, clock, pruneInWorker: true });
    await store.get('x');
    loadSessions(db, 3, 0);
    db.close();
    await expectCode(store.prune(), 'UNAVAILABLE');
    const check = new Database(db.name);
    expect(countOf(check, 'stowage_sessions')).toBe(3);
    check.close();
    await store.close();
  });

  it('is refused for an in-memory database and on the stream store', async () => {
    await expectCode(async () => new SqliteSessionStore({ database: new Database(':memory:'), pruneInWorker: true }), 'INVALID_ARGUMENT');
    await expectCode(async () => new SqliteSessionStore({ database: fileDb(), pruneInWorker: 'yes' as never }), 'INVALID_ARGUMENT');
    // Not in WAL mode (configure: false on a new file): each batch would lock readers out.
    await expectCode(async () => new SqliteSessionStore({ database: fileDb(), configure: false, pruneInWorker: true }), 'INVALID_ARGUMENT');
    await expectCode(async () => new SqliteStreamStore({ database: fileDb(), pruneInWorker: true } as never), 'INVALID_ARGUMENT');
  });
});
