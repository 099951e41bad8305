import { describe, expect, it } from 'vitest';
import { ExpiringMap, SHARD_AT } from '../src/expiring-map.js';
import { ExpiryHeap } from '../src/expiry-heap.js';
import { ShardedMap } from '../src/sharded-map.js';

/** A deterministic pseudo-random sequence (mulberry32), so a failure replays. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('ShardedMap', () => {
  it('keeps the size through inserts, overwrites, deletes and clear, and iterates every entry once', () => {
    const m = new ShardedMap<string | number, number>();
    for (let i = 0; i < 5000; i++) m.set(`k-${i}`, i);
    for (let i = 0; i < 5000; i += 2) m.set(`k-${i}`, -i);
    m.set(7, 7); // a key that is not a string
    expect(m.size).toBe(5001);
    expect(m.delete('k-1')).toBe(true);
    expect(m.delete('k-1')).toBe(false);
    expect(m.delete('absent')).toBe(false);
    expect(m.size).toBe(5000);
    expect(m.get('k-2')).toBe(-2);
    expect(m.get(7)).toBe(7);
    const seen = new Map([...m]);
    expect(seen.size).toBe(5000);
    expect([...m.values()].length).toBe(5000);
    m.clear();
    expect([m.size, m.get('k-2'), [...m].length]).toEqual([0, undefined, 0]);
  });

  it('spreads keys that differ only at the end, or only at the start, over its parts', () => {
    const counts = (keys: string[]) => {
      const m = new ShardedMap<string, number>();
      for (const k of keys) m.set(k, 0);
      const parts = (m as unknown as { shards: (Map<string, number> | undefined)[] }).shards.map((s) => s?.size ?? 0);
      return { max: Math.max(...parts), mean: keys.length / parts.length };
    };
    const next = random(1);
    for (const keys of [
      Array.from({ length: 100_000 }, (_, i) => `rl:ip:10.0.${i >> 8}.${i & 255}`),
      Array.from({ length: 100_000 }, () => Math.floor(next() * 2 ** 52).toString(36)),
      Array.from({ length: 100_000 }, (_, i) => `${i}:${'x'.repeat(40)}:login`),
      // Keys that differ only in the middle.
      Array.from({ length: 100_000 }, (_, i) => `192.168.${i >> 8}.${i & 255}:POST /api/v1/auth/login`),
      Array.from({ length: 100_000 }, (_, i) => `https://tenant${i}.auth.example.com/.well-known/jwks.json`),
      Array.from({ length: 20_000 }, (_, i) => `${'a'.repeat(100)}${i}${'b'.repeat(100)}`),
    ]) {
      const { max, mean } = counts(keys);
      expect(max).toBeLessThan(2 * mean);
    }
  });
});

describe('ExpiringMap past SHARD_AT', () => {
  it('an unbounded map keeps every entry, its expiries and its removals across the split', () => {
    const removed: string[] = [];
    const m = new ExpiringMap<string, { expiresAt: number }>({ onRemove: (k) => removed.push(k) });
    const n = SHARD_AT * 2;
    for (let i = 0; i < n; i++) m.set(`k-${i}`, { expiresAt: i % 2 === 0 ? 100 : 200 });
    expect(m.size).toBe(n);
    expect(m.get(`k-${n - 1}`, 0)?.expiresAt).toBe(200);
    expect([...m.values()].length).toBe(n);
    expect(m.sweep(100)).toBe(n / 2);
    expect(m.size).toBe(n / 2);
    expect(m.get('k-0', 100)).toBeUndefined();
    expect(m.get('k-1', 100)?.expiresAt).toBe(200);
    expect(m.delete('k-1')?.expiresAt).toBe(200);
    expect(removed.length).toBe(n / 2 + 1);
    expect(m.sweep(200)).toBe(n / 2 - 1);
    expect(m.size).toBe(0);
  });

  it('an iterator open across the split or a clear() ends, and shows no entry deleted after it', () => {
    const m = new ExpiringMap<string, { expiresAt: number; id: number }>();
    for (let i = 0; i < SHARD_AT; i++) m.set(`k-${i}`, { expiresAt: 100, id: i });
    const acrossSplit = m.values();
    acrossSplit.next();
    m.set('one-more', { expiresAt: 100, id: -1 }); // the split
    for (let i = 0; i < SHARD_AT; i++) m.delete(`k-${i}`);
    expect([...acrossSplit].length).toBe(0);
    const acrossClear = m.values();
    m.clear();
    expect([...acrossClear].length).toBe(0);
  });

  it('a map bounded by maxEntries stays in least-recently-used order past SHARD_AT', () => {
    const evicted: number[] = [];
    const max = SHARD_AT + 100;
    const m = new ExpiringMap<number, { expiresAt: number }>({ maxEntries: max, onRemove: (k) => evicted.push(k) });
    for (let i = 0; i < max; i++) m.set(i, { expiresAt: Number.POSITIVE_INFINITY });
    m.get(0, 0); // touched: now the most recent
    for (let i = max; i < max + 3; i++) m.set(i, { expiresAt: Number.POSITIVE_INFINITY });
    expect(evicted).toEqual([1, 2, 3]);
  });
});

describe('ExpiryHeap', () => {
  it('pops in order of `at` across chunk boundaries, through interleaved pushes and pops and a rebuild', () => {
    const next = random(7);
    const heap = new ExpiryHeap<{ at: number; id: number }>();
    // Kept sorted by `at` (binary insertion), so its first entry is the one the heap must pop.
    const reference: { at: number; id: number }[] = [];
    const insert = (e: { at: number; id: number }) => {
      let lo = 0;
      let hi = reference.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (reference[mid]!.at <= e.at) lo = mid + 1;
        else hi = mid;
      }
      reference.splice(lo, 0, e);
    };
    for (let i = 0; i < 40_000; i++) {
      const e = { at: Math.floor(next() * 1000), id: i };
      heap.push(e);
      insert(e);
      if (i % 3 === 0) expect(heap.pop()?.at).toBe(reference.shift()?.at);
    }
    expect(heap.length).toBe(reference.length);
    const kept = reference.filter((e) => e.id % 2 === 0);
    heap.rebuild(kept);
    expect(heap.peek()?.at).toBe(Math.min(...kept.map((e) => e.at)));
    const order: number[] = [];
    for (let e = heap.pop(); e !== undefined; e = heap.pop()) order.push(e.at);
    expect(order).toEqual(kept.map((e) => e.at).sort((a, b) => a - b));
    expect([heap.length, heap.peek(), heap.pop()]).toEqual([0, undefined, undefined]);
  });

  it('gives its chunks back as it empties', () => {
    const heap = new ExpiryHeap<{ at: number }>();
    for (let i = 0; i < 100_000; i++) heap.push({ at: i });
    const chunks = () => (heap as unknown as { chunks: unknown[] }).chunks.length;
    expect(chunks()).toBe(Math.ceil(100_000 / 16_384));
    while (heap.length > 10) heap.pop();
    expect(chunks()).toBeLessThanOrEqual(2);
  });
});
