import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BackgroundErrorContext, StowageError } from '@stowage/core';
import { createTestClock } from '@stowage/conformance';
import Database from 'better-sqlite3';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { SqliteSessionStore } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'stowage-sqlite-background-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

const STORE = '@stowage/stores-sqlite SqliteSessionStore';
const SESSION = 'secret-session-id';

/** Polls until `ready()` holds; the limit only ends a hung test, it measures nothing. */
async function until(ready: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !ready(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ready()).toBe(true);
}

/**
 * A store on a file whose background prune meets another connection's write lock (held by
 * `BEGIN IMMEDIATE`; `busyTimeoutMs: 0`, so the prune fails at once with SQLITE_BUSY).
 */
async function lockedStore(name: string, onError?: (error: StowageError, context: BackgroundErrorContext) => void) {
  const file = join(dir, name);
  const db = new Database(file);
  const clock = createTestClock();
  const store = new SqliteSessionStore({ database: db, clock, busyTimeoutMs: 0, pruneIntervalMs: 20, ...(onError && { onError }) });
  await store.set(SESSION, new Uint8Array([1]), { ttlMs: 10 });
  const other = new Database(file);
  const count = () => (other.prepare('SELECT count(*) AS n FROM stowage_sessions').get() as { n: number }).n;
  clock.advance(10);
  other.exec('BEGIN IMMEDIATE');
  return { db, store, other, count };
}

describe('background prune failures (onError)', () => {
  it('reports each failed prune with its code, and the next tick prunes once the lock is gone', async () => {
    const reports: { code: string; context: BackgroundErrorContext }[] = [];
    const { db, store, other, count } = await lockedStore('report.db', (error, context) => reports.push({ code: error.code, context }));
    await until(() => reports.length >= 2);
    expect(reports[0]).toEqual({ code: 'TIMEOUT', context: { operation: 'prune', store: STORE } });
    expect(count()).toBe(1);
    other.exec('ROLLBACK');
    await until(() => count() === 0);
    await store.set('after', new Uint8Array([2]), { ttlMs: 1000 });
    expect([...((await store.get('after'))?.data ?? [])]).toEqual([2]);
    await store.close();
    other.close();
    db.close();
  });

  it('by default logs one line naming the store, the operation and the code, never the session id', async () => {
    const lines: unknown[][] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void lines.push(args));
    const { db, store, other } = await lockedStore('default.db');
    await until(() => lines.length >= 1);
    await store.close();
    other.exec('ROLLBACK');
    for (const args of lines) {
      expect(args).toHaveLength(1);
      expect(args[0]).toMatch(new RegExp(`^${STORE}: background prune failed: TIMEOUT: the database stayed locked .*SQLITE_BUSY`));
      expect(args[0]).not.toMatch(/\n/);
      expect(args[0]).not.toContain(SESSION);
    }
    other.close();
    db.close();
  });

  it('an onError that throws does not stop the timer: the default line says so', async () => {
    const lines: unknown[][] = [];
    vi.spyOn(console, 'error').mockImplementation((...args: unknown[]) => void lines.push(args));
    let calls = 0;
    const { db, store, other, count } = await lockedStore('throws.db', () => {
      calls++;
      throw new Error('boom');
    });
    await until(() => calls >= 2 && lines.length >= 2);
    expect(lines[0]).toEqual([
      expect.stringMatching(new RegExp(`^${STORE}: background prune failed \\(and onError threw: boom\\): TIMEOUT: `)),
    ]);
    other.exec('ROLLBACK');
    await until(() => count() === 0);
    await store.close();
    other.close();
    db.close();
  });

  it('refuses an onError that is not a function', () => {
    const db = new Database(':memory:');
    expect(() => new SqliteSessionStore({ database: db, onError: 'log' as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringContaining('options.onError must be a function') }),
    );
    db.close();
  });

  it('close() waits for the prune in flight, which a lock holds, and the prune ends quietly before the database closes', async () => {
    const file = join(dir, 'close.db');
    const db = new Database(file);
    const clock = createTestClock();
    const reports: string[] = [];
    const store = new SqliteSessionStore({
      database: db,
      clock,
      busyTimeoutMs: 60_000,
      pruneIntervalMs: 20,
      onError: (error) => void reports.push(error.code),
    });
    await store.set(SESSION, new Uint8Array([1]), { ttlMs: 10 });
    clock.advance(10);
    const other = new Database(file);
    other.exec('BEGIN IMMEDIATE');
    let started = 0;
    const prune = store.prune.bind(store);
    store.prune = () => {
      started++;
      return prune();
    };
    await until(() => started === 1);
    const closed = store.close();
    other.exec('ROLLBACK');
    await closed;
    db.close(); // what a caller does next: the prune must be over by then
    await new Promise((r) => setTimeout(r, 100)); // five ticks' worth: none runs
    expect(reports).toEqual([]);
    expect(started).toBe(1);
    other.close();
  });
});
