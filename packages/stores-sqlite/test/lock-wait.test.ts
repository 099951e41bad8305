import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectCode } from '@stowage/conformance';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate, SqliteSessionStore, SqliteStreamStore } from '../src/index.js';
import { holdLock } from './hold-lock.js';

// Another process holds the file's write lock (BEGIN IMMEDIATE) until told to let go. A call
// that needs the lock waits for it off the event loop; a call that only reads does not wait.
// Counts, not times: a 10 ms interval ticks dozens of times while a call waits on timers, and
// not once while a call holds the thread (better-sqlite3's own busy wait did).

const dir = mkdtempSync(join(tmpdir(), 'stowage-sqlite-lock-wait-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFile = () => join(dir, `lock-wait-${++files}.db`);
const bytes = (...b: number[]) => Uint8Array.from(b);
/** Long enough never to end a test on its own: each test lets go by message. */
const HOLD_MS = 60_000;

/** Ticks of a 10 ms interval; `reach(n)` resolves once it has ticked `n` times. */
function ticker() {
  let ticks = 0;
  const waiting: { n: number; resolve: () => void }[] = [];
  const timer = setInterval(() => {
    ticks++;
    for (const w of waiting.filter((x) => x.n <= ticks)) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve();
    }
  }, 10);
  return {
    get ticks() {
      return ticks;
    },
    reach: (n: number) => new Promise<void>((resolve) => waiting.push({ n, resolve })),
    stop: () => clearInterval(timer),
  };
}

/** `promise`, and whether it has settled yet. */
function watch<T>(promise: Promise<T>) {
  const w = { settled: false, promise };
  promise.then(
    () => (w.settled = true),
    () => (w.settled = true),
  );
  return w;
}

async function openStreams(file: string, options: { busyTimeoutMs?: number; clock?: () => number } = {}) {
  const database = new Database(file);
  const streams = new SqliteStreamStore({ database, ...options });
  const sessions = new SqliteSessionStore({ database, ...options });
  await streams.create('s', { contentType: 'text/plain' });
  await streams.append('s', [bytes(1)]);
  await sessions.set('a', bytes(1), { ttlMs: 60_000 });
  return { database, streams, sessions };
}

describe('another process holds the write lock', () => {
  it('a write waits with the event loop running, then writes exactly once when the lock goes', async () => {
    const file = newFile();
    const { database, streams, sessions } = await openStreams(file, { busyTimeoutMs: 30_000 });
    const lock = await holdLock(file, HOLD_MS);
    const tick = ticker();
    try {
      const append = watch(streams.append('s', [bytes(2)]));
      const set = watch(sessions.set('a', bytes(2), { ttlMs: 60_000 }));
      await tick.reach(30);
      // 30 ticks while both wait: the loop was free, and neither got the lock.
      expect([append.settled, set.settled]).toEqual([false, false]);
      await lock.release();
      await append.promise;
      expect(await set.promise).toEqual({ version: 2 });
    } finally {
      tick.stop();
      await lock.release();
    }
    expect((await streams.read('s', '-1')).messages.map((m) => Array.from(m.data))).toEqual([[1], [2]]);
    expect(Array.from((await sessions.get('a'))!.data)).toEqual([2]);
    database.close();
  }, 30_000);

  it('a deadline nearer than the hold: TIMEOUT by it, reads answered meanwhile, nothing written once the lock goes', async () => {
    const file = newFile();
    const { database, streams } = await openStreams(file);
    const lock = await holdLock(file, HOLD_MS);
    const tick = ticker();
    const order: string[] = [];
    try {
      const append = streams.append('s', [bytes(3)], { deadline: Date.now() + 300 }).finally(() => order.push('append'));
      const read = await streams.read('s', '-1');
      order.push('read');
      expect(read.messages.map((m) => Array.from(m.data))).toEqual([[1]]);
      const err = await expectCode(append, 'TIMEOUT');
      expect(err.message).toMatch(/locked by another connection until the caller's deadline .*the call changed nothing/);
      // The read answered while the append waited, and the loop ran through the wait.
      expect(order).toEqual(['read', 'append']);
      expect(tick.ticks).toBeGreaterThanOrEqual(5);
    } finally {
      tick.stop();
      await lock.release();
    }
    expect((await streams.read('s', '-1')).messages.map((m) => Array.from(m.data))).toEqual([[1]]);
    database.close();
  }, 30_000);

  it('reads that write nothing answer while it is held; a read that renews an idle TTL waits, then renews it', async () => {
    const file = newFile();
    let now = Date.now();
    const { database, streams, sessions } = await openStreams(file, { clock: () => now });
    await streams.create('idle', { contentType: 'text/plain', ttlMs: 3_600_000 });
    await streams.append('idle', [bytes(7)]);
    const lock = await holdLock(file, HOLD_MS);
    const tick = ticker();
    try {
      // The lock stays held through these: each answered without it.
      const read = await streams.read('s', '-1');
      expect(read.messages.map((m) => Array.from(m.data))).toEqual([[1]]);
      expect((await streams.head('s'))?.nextOffset).toBe(read.nextOffset);
      expect(await streams.wait('s', '-1', 1000)).toBe('data');
      expect((await sessions.get('a'))?.version).toBe(1);
      now += 1000;
      const renewing = watch(streams.read('idle', '-1'));
      await tick.reach(20);
      expect(renewing.settled).toBe(false);
      await lock.release();
      expect((await renewing.promise).messages.map((m) => Array.from(m.data))).toEqual([[7]]);
    } finally {
      tick.stop();
      await lock.release();
    }
    const row = database.prepare('SELECT accessed_at FROM stowage_streams WHERE name = ?').get('idle') as { accessed_at: number };
    expect(row.accessed_at).toBe(now);
    database.close();
  }, 30_000);
});

describe('transactions of the connection itself', () => {
  it('a call inside one does not wait: TIMEOUT at once, and it changed nothing', async () => {
    const file = newFile();
    const { database, sessions } = await openStreams(file);
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    database.exec('BEGIN');
    const err = await expectCode(sessions.set('a', bytes(5), { ttlMs: 60_000 }), 'TIMEOUT');
    expect(err.message).toMatch(/inside a transaction of this connection a call does not wait/);
    database.exec('ROLLBACK');
    other.exec('ROLLBACK');
    other.close();
    expect((await sessions.get('a'))?.version).toBe(1);
    database.close();
  });

  it('a waiting call never runs inside one left open across an await: it waits for its end', async () => {
    const file = newFile();
    const { database, sessions } = await openStreams(file);
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    const tick = ticker();
    try {
      const set = watch(sessions.set('a', bytes(6), { ttlMs: 60_000 }));
      await tick.reach(5);
      // Other code opens a transaction on the store's connection, then the lock goes.
      database.exec('BEGIN');
      other.exec('ROLLBACK');
      await tick.reach(tick.ticks + 10);
      expect(set.settled).toBe(false);
      // Rolled back: had the call run inside it, its write would be undone after it resolved.
      database.exec('ROLLBACK');
      expect(await set.promise).toEqual({ version: 2 });
    } finally {
      tick.stop();
      other.close();
    }
    expect(Array.from((await sessions.get('a'))!.data)).toEqual([6]);
    database.close();
  });
});

describe('migrate()', () => {
  it("waits for another process's lock whatever the connection's busy_timeout (a store sets it to 0)", async () => {
    const file = newFile();
    const database = new Database(file, { timeout: 0 });
    database.pragma('journal_mode = WAL');
    // Held 300 ms by the holder's own timer: migrate() blocks this thread while it waits.
    const lock = await holdLock(file, 300);
    migrate(database, { tablePrefix: 'm_', components: ['sessions'] });
    await lock.released;
    const tables = database.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND substr(name, 1, 2) = 'm_'`).pluck().all();
    expect(tables.sort()).toEqual(['m_schema_version', 'm_sessions']);
    database.close();
  });
});
