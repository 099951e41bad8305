import { createTestClock } from '@stowage/conformance';
import { describe, expect, it } from 'vitest';
import { ExpiringMap, MemoryRateLimitStore, MemorySessionStore } from '../src/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
const heap = (): number => {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
};
const MB = 1024 * 1024;

describe('bounded memory', () => {
  it('1,000,000 short-lived sessions leave the heap near its starting size once they expire', async () => {
    expect(gc, 'run with --expose-gc (the project config does)').toBeTypeOf('function');
    const clock = createTestClock();
    // The background sweep is what reclaims memory in production; here it runs every 5 ms.
    const store = new MemorySessionStore({ clock, pruneIntervalMs: 5 });
    const data = new Uint8Array(32);
    const before = heap();
    for (let i = 0; i < 1_000_000; i++) await store.set(`sid-${i}`, data, { ttlMs: 1000 + (i % 997) });
    const peak = heap();
    clock.advance(2000);
    await new Promise((r) => setTimeout(r, 50));
    const after = heap();
    await store.close();
    // The measurement means something: a million sessions weigh well over 50 MB...
    expect(peak - before).toBeGreaterThan(50 * MB);
    // ...and once swept, almost none of it is left.
    expect(after - before).toBeLessThan(8 * MB);
  }, 120_000);

  it('1,000,000 rate-limited keys are reclaimed by the sweep too', async () => {
    const clock = createTestClock();
    const store = new MemoryRateLimitStore({ clock, pruneIntervalMs: 5 });
    const policy = { algorithm: 'gcra', limit: 10, windowMs: 1000 } as const;
    const before = heap();
    for (let i = 0; i < 1_000_000; i++) await store.consume(`ip-${i}`, policy);
    const peak = heap();
    clock.advance(1000);
    await new Promise((r) => setTimeout(r, 50));
    const after = heap();
    await store.close();
    expect(peak - before).toBeGreaterThan(50 * MB);
    expect(after - before).toBeLessThan(8 * MB);
  }, 120_000);

  it('maxEntries evicts the least recently used record', async () => {
    const clock = createTestClock();
    const store = new MemorySessionStore({ clock, maxEntries: 3 });
    const data = new Uint8Array(1);
    for (const id of ['a', 'b', 'c']) await store.set(id, data, { ttlMs: 60_000, owner: 'o' });
    await store.get('a'); // a is now the most recently used
    await store.set('d', data, { ttlMs: 60_000, owner: 'o' }); // evicts b
    expect(await store.get('b')).toBeUndefined();
    for (const id of ['a', 'c', 'd']) expect(await store.get(id)).toBeDefined();
    // The owner index forgot the evicted session.
    expect(await store.destroyByOwner('o')).toBe(3);
    await store.close();
  });
});

describe('ExpiringMap', () => {
  it('with maxEntries, evicts in least-recently-used order through touches, deletes and clear', () => {
    const evicted: number[] = [];
    const m = new ExpiringMap<number, { expiresAt: number }>({ maxEntries: 50, onRemove: (k) => evicted.push(k) });
    const model: number[] = []; // the reference: keys from least to most recently used
    const expected: number[] = [];
    let seed = 7;
    const next = (n: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
    for (let step = 0; step < 20_000; step++) {
      const op = next(10);
      const key = next(120);
      const at = model.indexOf(key);
      if (op < 6) {
        if (at >= 0) model.splice(at, 1);
        else if (model.length === 50) expected.push(model.shift()!);
        if (at >= 0) expected.push(key); // replaced: told of the old record
        model.push(key);
        m.set(key, { expiresAt: 1000 });
      } else if (op < 8) {
        expect(m.get(key, 0) !== undefined).toBe(at >= 0);
        if (at >= 0) model.push(...model.splice(at, 1));
      } else if (op < 9) {
        expect(m.delete(key) !== undefined).toBe(at >= 0);
        if (at >= 0) expected.push(...model.splice(at, 1));
      } else if (step % 5000 === 9) {
        m.clear();
        model.length = 0;
      }
      expect(m.size).toBe(model.length);
    }
    expect(evicted.length).toBeGreaterThan(5_000);
    expect(evicted).toEqual(expected);
  });

  it('sweeps exactly the due entries, in expiry order, skipping re-timed ones', () => {
    const removed: string[] = [];
    const m = new ExpiringMap<string, { expiresAt: number }>({ onRemove: (k) => removed.push(k) });
    m.set('c', { expiresAt: 30 });
    m.set('a', { expiresAt: 10 });
    m.set('b', { expiresAt: 20 });
    const b = m.get('b', 0)!;
    b.expiresAt = 100;
    m.retime('b', b);
    m.set('never', { expiresAt: Number.POSITIVE_INFINITY });
    expect(m.sweep(29)).toBe(1);
    expect(removed).toEqual(['a']);
    expect(m.sweep(99)).toBe(1);
    expect(m.sweep(100)).toBe(1);
    expect(removed).toEqual(['a', 'c', 'b']);
    expect(m.size).toBe(1);
  });

  it('hides an expired entry at once, before any sweep', () => {
    const m = new ExpiringMap<string, { expiresAt: number }>();
    m.set('k', { expiresAt: 10 });
    expect(m.get('k', 9)).toBeDefined();
    expect(m.get('k', 10)).toBeUndefined();
    expect(m.size).toBe(0);
  });

  it('keeps its heap proportional to the live entries when one key is re-timed a million times', () => {
    const m = new ExpiringMap<string, { expiresAt: number }>();
    const v = { expiresAt: 1 };
    m.set('hot', v);
    for (let i = 2; i < 1_000_000; i++) {
      v.expiresAt = i;
      m.retime('hot', v);
    }
    expect((m as unknown as { heap: unknown[] }).heap.length).toBeLessThanOrEqual(1025);
    expect(m.sweep(999_998)).toBe(0);
    expect(m.sweep(999_999)).toBe(1);
  });
});
