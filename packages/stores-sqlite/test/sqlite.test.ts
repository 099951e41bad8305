import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestClock, expectCode } from '@stowage/conformance';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, schema, SqliteRateLimitStore, SqliteSessionStore, sqliteHealth, SqliteStreamStore } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'stowage-sqlite-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const fileDb = (name: string) => new Database(join(dir, name));

describe('pragmas and schema', () => {
  it('sets WAL, busy_timeout = 0 (the store waits for locks itself) and synchronous=NORMAL, and leaves other pragmas alone', () => {
    const db = fileDb('pragmas.db');
    db.pragma('cache_size = -4000');
    new SqliteSessionStore({ database: db, busyTimeoutMs: 1234 });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('busy_timeout', { simple: true })).toBe(0);
    expect(db.pragma('synchronous', { simple: true })).toBe(1);
    expect(db.pragma('cache_size', { simple: true })).toBe(-4000);
    db.close();
  });

  it('the switch to WAL waits for another process that holds the file, within busyTimeoutMs', async () => {
    const file = join(dir, 'held.db');
    // Another process holds an exclusive lock on the new file for 300 ms.
    const holder = spawn(
      process.execPath,
      [
        '-e',
        `const db = new (require('better-sqlite3'))(process.argv[1]);
         db.exec('CREATE TABLE t (x)'); db.exec('BEGIN EXCLUSIVE'); db.exec('INSERT INTO t VALUES (1)');
         process.stdout.write('held\\n');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 300);
         db.exec('COMMIT'); db.close();`,
        file,
      ],
      { cwd: import.meta.dirname, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise((resolve) => holder.stdout!.once('data', resolve));
    // A connection opened without a busy timeout of its own: the store's applies.
    const db = new Database(file, { timeout: 0 });
    const started = Date.now();
    new SqliteSessionStore({ database: db, busyTimeoutMs: 5000 });
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(Date.now() - started).toBeGreaterThan(100);
    db.close();
    await new Promise((resolve) => holder.once('exit', resolve));
  });

  it('configure: false leaves every pragma alone', () => {
    const db = fileDb('untouched.db');
    new SqliteSessionStore({ database: db, configure: false });
    expect(db.pragma('journal_mode', { simple: true })).toBe('delete');
    db.close();
  });

  it('exports its DDL, migrates idempotently, and indexes every expiry column', () => {
    const db = new Database(':memory:');
    const ddl = schema('app_');
    expect(Object.keys(ddl).sort()).toEqual(['csrf', 'idempotency', 'jwks', 'locks', 'rate_limits', 'sessions', 'streams']);
    migrate(db, { tablePrefix: 'app_' });
    migrate(db, { tablePrefix: 'app_' });
    const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'app_%'`).all() as { name: string }[];
    for (const { name } of tables) {
      const columns = (db.prepare(`PRAGMA table_info("${name}")`).all() as { name: string }[]).map((c) => c.name);
      const expiry = columns.filter((c) => c === 'expires_at' || c === 'deadline');
      const indexed = (db.prepare(`PRAGMA index_list("${name}")`).all() as { name: string }[]).flatMap((i) =>
        (db.prepare(`PRAGMA index_info("${i.name}")`).all() as { name: string }[]).map((c) => c.name),
      );
      for (const column of expiry) {
        // streams.expires_at is configuration; its expiry is `deadline`, which is indexed.
        if (name === 'app_streams' && column === 'expires_at') continue;
        expect(indexed, `${name}.${column}`).toContain(column);
      }
    }
    expect(db.prepare(`SELECT count(*) AS n FROM app_schema_version`).get()).toEqual({ n: 7 });
    db.close();
  });

  it('rejects a table prefix that is not an identifier, before touching the database', () => {
    const db = new Database(':memory:');
    for (const bad of ['x"; DROP TABLE t; --', '1x', 'a-b', '']) {
      expect(() => new SqliteSessionStore({ database: db, tablePrefix: bad })).toThrowError(/tablePrefix/);
    }
    expect(db.prepare(`SELECT count(*) AS n FROM sqlite_master`).get()).toEqual({ n: 0 });
    db.close();
  });
});

describe('statements', () => {
  it('are prepared once per store, never per call', async () => {
    const db = new Database(':memory:');
    let prepared = 0;
    const prepare = db.prepare.bind(db);
    db.prepare = ((sql: string) => {
      prepared++;
      return prepare(sql);
    }) as typeof db.prepare;
    const sessions = new SqliteSessionStore({ database: db });
    const limits = new SqliteRateLimitStore({ database: db });
    await sessions.set('a', new Uint8Array([1]), { ttlMs: 1000 });
    await limits.consume('k', { algorithm: 'gcra', limit: 5, windowMs: 1000 });
    // Several-policy statements are prepared once per number of policies, on first use.
    await limits.consume('k', [
      { algorithm: 'gcra', limit: 5, windowMs: 1000 },
      { algorithm: 'fixed-window', limit: 9, windowMs: 60_000 },
    ]);
    const after = prepared;
    for (let i = 0; i < 100; i++) {
      await sessions.set(`s${i}`, new Uint8Array([i]), { ttlMs: 1000, ifVersion: 0 });
      await sessions.get(`s${i}`);
      await sessions.touch(`s${i}`, 2000);
      await sessions.rotate(`s${i}`, `r${i}`);
      await limits.consume(`k${i % 3}`, [
        { algorithm: 'gcra', limit: 5, windowMs: 1000 },
        { algorithm: 'fixed-window', limit: 9, windowMs: 60_000 },
      ]);
      await limits.peek('k', { algorithm: 'gcra', limit: 5, windowMs: 1000 });
    }
    expect(prepared).toBe(after);
    db.close();
  });
});

describe('prune', () => {
  it('deletes expired rows in bounded batches and returns the count', async () => {
    const clock = createTestClock();
    const db = new Database(':memory:');
    const store = new SqliteSessionStore({ database: db, clock, pruneBatchSize: 1000 });
    for (let i = 0; i < 2500; i++) await store.set(`old-${i}`, new Uint8Array(1), { ttlMs: 1000 });
    await store.set('live', new Uint8Array(1), { ttlMs: 60_000 });
    clock.advance(1000);
    expect(await store.prune()).toBe(2500);
    expect(db.prepare(`SELECT count(*) AS n FROM stowage_sessions`).get()).toEqual({ n: 1 });
    db.close();
  });

  it('gives the event loop a turn between batches, and counts exactly', async () => {
    const clock = createTestClock();
    const db = new Database(':memory:');
    const store = new SqliteSessionStore({ database: db, clock, pruneBatchSize: 500 });
    const insert = db.transaction(() => {
      for (let i = 0; i < 10_000; i++)
        db.prepare(`INSERT INTO stowage_sessions (id, data, version, expires_at) VALUES (?, x'00', 1, ?)`).run(
          `k${i}`,
          i < 7_500 ? 1 : 9e15,
        );
    });
    await store.get('x'); // migrates
    insert();
    clock.advance(1);
    // Another task of the process, run whenever the loop gets a turn: it sees the rows left.
    const seen: number[] = [];
    const rows = db.prepare(`SELECT count(*) AS n FROM stowage_sessions`);
    let done = false;
    const other = () => {
      if (done) return;
      seen.push((rows.get() as { n: number }).n);
      setImmediate(other);
    };
    setImmediate(other);
    const pruned = store.prune();
    const total = await pruned;
    done = true;
    expect(total).toBe(7_500);
    expect((rows.get() as { n: number }).n).toBe(2_500);
    // 15 full batches and a short one: the other task ran between them and saw each step.
    const between = new Set(seen.filter((n) => n < 10_000 && n > 2_500));
    expect(between.size).toBe(14);
    db.close();
  });

  it('runs in the background with pruneIntervalMs, on an unref-ed timer that close() stops', async () => {
    const clock = createTestClock();
    const db = new Database(':memory:');
    const store = new SqliteSessionStore({ database: db, clock, pruneIntervalMs: 20 });
    await store.set('old', new Uint8Array(1), { ttlMs: 10 });
    clock.advance(10);
    await new Promise((r) => setTimeout(r, 100));
    expect(db.prepare(`SELECT count(*) AS n FROM stowage_sessions`).get()).toEqual({ n: 0 });
    await store.close();
    db.close();
  });
});

describe('faults and health', () => {
  it('a database closed underneath gives UNAVAILABLE, and the health check says so without throwing', async () => {
    const db = new Database(':memory:');
    const store = new SqliteSessionStore({ database: db });
    await store.set('a', new Uint8Array(1), { ttlMs: 1000 });
    expect((await sqliteHealth(db)).ok).toBe(true);
    db.close();
    await expectCode(store.get('a'), 'UNAVAILABLE');
    const health = await sqliteHealth(db);
    expect(health.ok).toBe(false);
    expect(health.error).toMatch(/not open/);
  });

  it('a write lock held too long by another connection gives TIMEOUT, not SQLITE_BUSY, and nothing changes', async () => {
    const file = join(dir, 'busy.db');
    const holder = new Database(file);
    const db = new Database(file);
    const store = new SqliteSessionStore({ database: db, busyTimeoutMs: 50 });
    await store.set('a', new Uint8Array([1]), { ttlMs: 60_000 });
    holder.pragma('busy_timeout = 0');
    holder.exec('BEGIN IMMEDIATE');
    const err = await expectCode(store.set('a', new Uint8Array([2]), { ttlMs: 60_000 }), 'TIMEOUT');
    expect(err.message).toMatch(/SQLITE_BUSY/);
    holder.exec('ROLLBACK');
    expect(Array.from((await store.get('a'))!.data)).toEqual([1]);
    holder.close();
    db.close();
  });
});

describe('streams across connections', () => {
  it('a waiter on one connection wakes when another connection appends', async () => {
    const file = join(dir, 'wait.db');
    const a = new SqliteStreamStore({ database: new Database(file), pollIntervalMs: 10 });
    const b = new SqliteStreamStore({ database: new Database(file) });
    const { info } = await a.create('s', { contentType: 'text/plain' });
    const started = Date.now();
    const waiting = a.wait('s', info.nextOffset, 5000);
    await new Promise((r) => setTimeout(r, 30));
    await b.append('s', [new Uint8Array([1])]);
    expect(await waiting).toBe('data');
    expect(Date.now() - started).toBeLessThan(1000);
    await a.close();
    await b.close();
  });
});

describe('the WAL file', () => {
  it('stays bounded under writes: every write statement lets SQLite auto-checkpoint', async () => {
    const file = join(dir, 'wal.db');
    const db = new Database(file);
    const sessions = new SqliteSessionStore({ database: db });
    const limits = new SqliteRateLimitStore({ database: db });
    const data = new Uint8Array(2000);
    for (let i = 0; i < 3000; i++) {
      await sessions.set(`s${i % 50}`, data, { ttlMs: 60_000 });
      await limits.consume(`k${i % 50}`, { algorithm: 'gcra', limit: 1_000_000, windowMs: 1000 });
    }
    // The default auto-checkpoint is 1000 pages (4 MB); without it this WAL passes 50 MB.
    expect(statSync(`${file}-wal`).size).toBeLessThan(12 * 1024 * 1024);
    db.close();
  });
});
