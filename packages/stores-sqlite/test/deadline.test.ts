import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expectCode } from '@stowage/conformance';
import type { CallOptions } from '@stowage/core';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import {
  SqliteCsrfTokenStore,
  SqliteIdempotencyStore,
  SqliteJwksCacheStore,
  SqliteLockStore,
  SqliteRateLimitStore,
  SqliteSessionStore,
  SqliteStreamStore,
} from '../src/index.js';
import { holdLock } from './hold-lock.js';

const dir = mkdtempSync(join(tmpdir(), 'stowage-sqlite-deadline-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;
const newFile = () => join(dir, `deadline-${++files}.db`);

// GCRA, not a fixed window: a window aligned to the epoch minute could end mid-test and reset the count.
const POLICY = { algorithm: 'gcra', limit: 5, windowMs: 3_600_000 } as const;
const bytes = (...b: number[]) => Uint8Array.from(b);
const busyTimeout = (db: Database.Database) => db.pragma('busy_timeout', { simple: true }) as number;

/** One store per contract on one connection to `file`, each used once (so migrated). */
async function openStores(file: string) {
  const database = new Database(file);
  const o = { database, busyTimeoutMs: 5000 };
  const s = {
    database,
    sessions: new SqliteSessionStore(o),
    limits: new SqliteRateLimitStore(o),
    idem: new SqliteIdempotencyStore(o),
    csrf: new SqliteCsrfTokenStore(o),
    locks: new SqliteLockStore(o),
    jwks: new SqliteJwksCacheStore(o),
    streams: new SqliteStreamStore(o),
  };
  await s.sessions.set('a', bytes(1), { ttlMs: 60_000 });
  await s.limits.consume('k', POLICY);
  const token = await s.csrf.issue('s', { ttlMs: 60_000 });
  await s.streams.create('s', { contentType: 'text/plain' });
  await s.idem.reserve('sc', 'warm', 'fp', { leaseMs: 60_000 });
  await s.locks.acquire('warm', { ttlMs: 60_000 });
  await s.jwks.put('warm', '{}', { fetchedAt: 1, ttlMs: 60_000 });
  return { ...s, token };
}

describe("another process holds the write lock: the caller's deadline ends the wait", () => {
  it('calls with a deadline 200 ms ahead (busyTimeoutMs 5000) reject TIMEOUT by it, and none takes effect', async () => {
    const file = newFile();
    const { database, sessions, limits, idem, csrf, locks, jwks, streams, token } = await openStores(file);
    // Held at most 4 s (less than busyTimeoutMs: a call that ignored its deadline would get the
    // lock then, and take effect); released as soon as the calls below are done.
    const lock = await holdLock(file, 4000);
    const calls: [string, (o: CallOptions) => Promise<unknown>][] = [
      ['consume', (o) => limits.consume('k', POLICY, o)],
      ['reserve', (o) => idem.reserve('sc', 'k', 'fp', { leaseMs: 60_000, ...o })],
      ['CSRF consume', (o) => csrf.validate('s', token, { consume: true, ...o })],
      ['session set', (o) => sessions.set('a', bytes(2), { ttlMs: 60_000, ...o })],
      ['session rotate (a transaction)', (o) => sessions.rotate('a', 'b', o)],
      ['append (a transaction)', (o) => streams.append('s', [bytes(9)], o)],
      ['lock acquire', (o) => locks.acquire('l', { ttlMs: 60_000, ...o })],
      ['JWKS put', (o) => jwks.put('u', '{}', { fetchedAt: 1, ttlMs: 60_000, ...o })],
    ];
    const outcomes: { what: string; took: number; code?: string; message?: string }[] = [];
    for (const [what, call] of calls) {
      const started = Date.now();
      const err = await call({ deadline: started + 200 }).then(
        () => undefined,
        (e: { code: string; message: string }) => e,
      );
      outcomes.push({ what, took: Date.now() - started, code: err?.code ?? 'succeeded', message: err?.message });
    }
    // A deadline already passed: TIMEOUT before anything runs (no wait for the lock).
    const passed = await limits.consume('k', POLICY, { deadline: Date.now() - 1 }).then(
      () => 'succeeded',
      (e: { code: string; message: string }) => `${e.code} ${e.message}`,
    );
    await lock.release();

    expect.soft((await limits.peek('k', POLICY)).remaining, 'consume not counted').toBe(4);
    expect.soft((await idem.reserve('sc', 'k', 'fp', { leaseMs: 60_000 })).state, 'reserve not held').toBe('reserved');
    expect.soft(await csrf.validate('s', token, { consume: true }), 'CSRF token not spent').toBe(true);
    const session = await sessions.get('a');
    expect.soft(session && [session.version, Array.from(session.data)], 'session not set').toEqual([1, [1]]);
    expect.soft(await sessions.get('b'), 'session not rotated').toBeUndefined();
    expect.soft((await streams.read('s', '-1')).messages, 'nothing appended').toEqual([]);
    expect.soft((await locks.acquire('l', { ttlMs: 60_000 }))?.fence, 'no lease taken').toBe(1);
    expect.soft(await jwks.get('u'), 'no document stored').toBeUndefined();
    expect(passed).toMatch(/^TIMEOUT .*deadline passed .* before the call started/);
    for (const o of outcomes) {
      expect(o.code, o.what).toBe('TIMEOUT');
      expect(o.message, o.what).toMatch(/locked by another connection until the caller's deadline/);
      expect(o.took, `${o.what} waited for the lock`).toBeGreaterThanOrEqual(100);
      expect(o.took, `${o.what} answered long before busyTimeoutMs`).toBeLessThan(2500);
    }
    database.close();
  }, 30_000);

  it('a call without a deadline still waits up to busyTimeoutMs, and succeeds when the lock goes in time', async () => {
    const file = newFile();
    const { database, sessions, limits } = await openStores(file);
    await limits.consume('k', POLICY, { deadline: Date.now() + 200 });
    // The driver never waits: the store does, off the event loop.
    expect(busyTimeout(database)).toBe(0);
    const lock = await holdLock(file, 1500);
    const started = Date.now();
    expect(await sessions.set('a', bytes(3), { ttlMs: 60_000 })).toEqual({ version: 2 });
    const took = Date.now() - started;
    expect(took, 'it waited for the lock').toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(5000);
    expect(busyTimeout(database)).toBe(0);
    await lock.released;
    database.close();
  }, 30_000);

  it('stores sharing one connection each wait their own busyTimeoutMs', async () => {
    const file = newFile();
    const database = new Database(file);
    const sessions = new SqliteSessionStore({ database, busyTimeoutMs: 5000 });
    const limits = new SqliteRateLimitStore({ database, busyTimeoutMs: 200 });
    await sessions.set('a', bytes(1), { ttlMs: 60_000 });
    await limits.consume('k', POLICY);
    const lock = await holdLock(file, 1500);
    await expectCode(limits.consume('k', POLICY), 'TIMEOUT');
    expect(await sessions.set('a', bytes(2), { ttlMs: 60_000 })).toEqual({ version: 2 });
    await lock.released;
    expect((await limits.peek('k', POLICY)).remaining).toBe(4);
    database.close();
  }, 30_000);
});

describe('configure: false', () => {
  it('leaves busy_timeout alone: a deadline only refuses a call that starts after it', async () => {
    const database = new Database(newFile(), { timeout: 1234 });
    const store = new SqliteSessionStore({ database, configure: false });
    expect(await store.set('a', bytes(1), { ttlMs: 60_000, deadline: Date.now() + 100 })).toEqual({ version: 1 });
    expect(busyTimeout(database)).toBe(1234);
    await expectCode(store.set('a', bytes(2), { ttlMs: 60_000, deadline: Date.now() - 1 }), 'TIMEOUT');
    expect((await store.get('a'))?.version).toBe(1);
    expect(busyTimeout(database)).toBe(1234);
    database.close();
  });
});
