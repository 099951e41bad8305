import { createTestClock, expectCode } from '@stowage/conformance';
import { describe, expect, it } from 'vitest';
import {
  MemoryCsrfTokenStore,
  MemoryIdempotencyStore,
  MemoryJwksCacheStore,
  MemoryLockStore,
  MemoryRateLimitStore,
  MemorySessionStore,
  MemoryStreamStore,
} from '../src/index.js';

// Deadlines are on this process's clock, whatever the store's clock says: the stores below
// run a test clock a day behind (a passed deadline is still ahead for them) or a day ahead.
const DAY = 86_400_000;
const clock = () => createTestClock(Date.now() - DAY);
const clockAhead = () => createTestClock(Date.now() + DAY);
const past = () => ({ deadline: Date.now() - 1 });
const future = () => ({ deadline: Date.now() + 60_000 });
// GCRA, not a fixed window: a window aligned to the epoch minute could end mid-test and reset the count.
const policy = { algorithm: 'gcra', limit: 5, windowMs: 3_600_000 } as const;
const bytes = (...b: number[]) => Uint8Array.from(b);

describe('a deadline that has passed: TIMEOUT, and the store is as it was', () => {
  it('sessions: set, touch, rotate', async () => {
    const store = new MemorySessionStore({ clock: clock() });
    await store.set('s', bytes(1), { ttlMs: 60_000, owner: 'u' });
    const before = await store.get('s');
    await expectCode(store.set('s', bytes(2), { ttlMs: 60_000, ...past() }), 'TIMEOUT');
    await expectCode(store.touch('s', 1, past()), 'TIMEOUT');
    await expectCode(store.rotate('s', 't', past()), 'TIMEOUT');
    await expectCode(store.get('s', past()), 'TIMEOUT');
    expect(await store.get('s')).toEqual(before);
    expect(await store.get('t')).toBeUndefined();
    await store.close();
  });

  it('rate limits: consume counts nothing', async () => {
    const store = new MemoryRateLimitStore({ clock: clock() });
    await store.consume('k', policy);
    await expectCode(store.consume('k', policy, { cost: 3, ...past() }), 'TIMEOUT');
    await expectCode(store.reset('k', past()), 'TIMEOUT');
    expect((await store.peek('k', policy)).remaining).toBe(4);
    await store.close();
  });

  it('idempotency: reserve holds nothing', async () => {
    const store = new MemoryIdempotencyStore({ clock: clock() });
    await expectCode(store.reserve('sc', 'k', 'fp', { leaseMs: 60_000, ...past() }), 'TIMEOUT');
    const r = await store.reserve('sc', 'k', 'fp', { leaseMs: 60_000 });
    expect(r.state).toBe('reserved');
    const token = (r as { token: string }).token;
    await expectCode(store.release('sc', 'k', token, past()), 'TIMEOUT');
    expect((await store.reserve('sc', 'k', 'fp', { leaseMs: 60_000 })).state).toBe('in-flight');
    await store.close();
  });

  it('CSRF: a consuming validate does not spend the token', async () => {
    const store = new MemoryCsrfTokenStore({ clock: clock() });
    const token = await store.issue('s', { ttlMs: 60_000 });
    await expectCode(store.validate('s', token, { consume: true, ...past() }), 'TIMEOUT');
    await expectCode(store.issue('s', { ttlMs: 60_000, ...past() }), 'TIMEOUT');
    expect(await store.revoke('s')).toBe(1);
    await store.close();
  });

  it('locks: acquire takes no lease and bumps no fence', async () => {
    const store = new MemoryLockStore({ clock: clock() });
    await expectCode(store.acquire('l', { ttlMs: 60_000, ...past() }), 'TIMEOUT');
    expect((await store.acquire('l', { ttlMs: 60_000 }))?.fence).toBe(1);
    await store.close();
  });

  it('JWKS: put stores nothing', async () => {
    const store = new MemoryJwksCacheStore({ clock: clock() });
    await expectCode(store.put('https://a/jwks', '{"keys":[]}', { fetchedAt: 1, ttlMs: 60_000, ...past() }), 'TIMEOUT');
    expect(await store.get('https://a/jwks')).toBeUndefined();
    await store.close();
  });

  it('streams: append appends nothing; create, head, read, closeStream and delete too', async () => {
    const store = new MemoryStreamStore({ clock: clock() });
    await expectCode(store.create('other', { contentType: 'text/plain' }, past()), 'TIMEOUT');
    const { info } = await store.create('s', { contentType: 'text/plain' });
    await expectCode(store.append('s', [bytes(1)], past()), 'TIMEOUT');
    await expectCode(store.head('s', past()), 'TIMEOUT');
    await expectCode(store.read('s', '-1', past()), 'TIMEOUT');
    await expectCode(store.closeStream('s', past()), 'TIMEOUT');
    await expectCode(store.delete('s', past()), 'TIMEOUT');
    expect(await store.head('other')).toBeUndefined();
    const after = await store.read('s', '-1');
    expect(after.messages).toEqual([]);
    expect(after.nextOffset).toBe(info.nextOffset);
    expect(after.closed).toBe(false);
    await store.close();
  });
});

describe('a deadline in the future: the call runs', () => {
  it('on every contract, although the store clock runs a day ahead', async () => {
    const sessions = new MemorySessionStore({ clock: clockAhead() });
    expect(await sessions.set('s', bytes(1), { ttlMs: 60_000, ...future() })).toEqual({ version: 1 });
    expect(await sessions.touch('s', 1000, future())).toBe(true);
    const limits = new MemoryRateLimitStore({ clock: clockAhead() });
    expect((await limits.consume('k', policy, future())).remaining).toBe(4);
    const idem = new MemoryIdempotencyStore({ clock: clockAhead() });
    expect((await idem.reserve('sc', 'k', 'fp', { leaseMs: 1000, ...future() })).state).toBe('reserved');
    const csrf = new MemoryCsrfTokenStore({ clock: clockAhead() });
    const token = await csrf.issue('s', { ttlMs: 1000, ...future() });
    expect(await csrf.validate('s', token, { consume: true, ...future() })).toBe(true);
    const locks = new MemoryLockStore({ clock: clockAhead() });
    expect((await locks.acquire('l', { ttlMs: 1000, ...future() }))?.fence).toBe(1);
    const jwks = new MemoryJwksCacheStore({ clock: clockAhead() });
    expect(await jwks.put('u', '{}', { fetchedAt: 1, ttlMs: 1000, ...future() })).toBe(true);
    const streams = new MemoryStreamStore({ clock: clockAhead() });
    await streams.create('s', { contentType: 'text/plain' }, future());
    await streams.append('s', [bytes(7)], future());
    expect((await streams.read('s', '-1', future())).messages.map((m) => Array.from(m.data))).toEqual([[7]]);
    for (const s of [sessions, limits, idem, csrf, locks, jwks, streams]) await s.close();
  });
});

describe('order of checks', () => {
  it('an invalid argument is INVALID_ARGUMENT even when the deadline has passed, and so is a malformed deadline', async () => {
    const sessions = new MemorySessionStore();
    await expectCode(sessions.touch('s', 0, past()), 'INVALID_ARGUMENT');
    await expectCode(sessions.get('s', { deadline: 'soon' as unknown as number }), 'INVALID_ARGUMENT');
    const streams = new MemoryStreamStore();
    await streams.create('s', { contentType: 'text/plain' });
    // read's offset is checked inside the engine operation; it still wins over the deadline.
    await expectCode(streams.read('s', 'not-an-offset', past()), 'INVALID_ARGUMENT');
    await expectCode(streams.head('s', 5 as never), 'INVALID_ARGUMENT');
    await sessions.close();
    await streams.close();
  });
});

describe("stream calls never see another call's deadline", () => {
  it('100 appends started together, every other one with a passed deadline: exactly 50 appended', async () => {
    const store = new MemoryStreamStore();
    await store.create('s', { contentType: 'text/plain' });
    const results = await Promise.allSettled(
      Array.from({ length: 100 }, (_, i) => store.append('s', [bytes(i)], i % 2 === 0 ? past() : undefined)),
    );
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(50);
    const codes = results.flatMap((r) => (r.status === 'rejected' ? [(r.reason as { code: string }).code] : []));
    expect(codes).toEqual(Array(50).fill('TIMEOUT'));
    const read = await store.read('s', '-1');
    expect(read.messages.map((m) => m.data[0])).toEqual(Array.from({ length: 50 }, (_, i) => 2 * i + 1));
    // A call rejected by validation leaves no deadline behind for the next call, nor for wait.
    await expectCode(store.append('s', [], past()), 'INVALID_ARGUMENT');
    await store.append('s', [bytes(200)]);
    expect(await store.wait('s', read.nextOffset, 1000)).toBe('data');
    await store.close();
  });
});
