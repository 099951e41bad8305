import { describe, expect, it } from 'vitest';
import { StreamReadCache, withCached } from '../src/streams/read-cache.js';
import { runOf } from '../src/streams/run.js';

// Message `p` of stream `id`: its size varies with p, its bytes say which message it is.
const message = (id: string, p: number): Uint8Array => new Uint8Array(1 + ((p * 7) % 13)).fill((id.charCodeAt(0) + p) % 256);
const messages = (id: string, first: number, count: number) => Array.from({ length: count }, (_, i) => message(id, first + i));
const runFrom = (id: string, after: number, count: number) => runOf(messages(id, after + 1, count));
const split = (run: { bytes: Uint8Array; ends: ArrayLike<number> }): number[][] =>
  Array.from(run.ends, (end, i) => [...run.bytes.subarray(i === 0 ? 0 : run.ends[i - 1], end)]);

describe('StreamReadCache', () => {
  it('answers what was put, from any position in it, and nothing past it', () => {
    const cache = new StreamReadCache(1 << 20);
    cache.put('a', 0, runFrom('a', 0, 10), 's');
    expect(cache.idOf('s')).toBe('a');
    for (let after = 0; after <= 10; after++) {
      const part = cache.get('a', after, 1 << 20, 1000);
      expect(split(part.run)).toEqual(messages('a', after + 1, 10 - after).map((m) => [...m]));
      expect(part.through).toBe(10);
      expect(part.full).toBe(false); // the store may hold more after 10
    }
    expect(cache.get('b', 0, 1 << 20, 1000).run.ends).toHaveLength(0);
  });

  it('keeps to maxMessages, maxBytes (the first message always) and upTo, and says when the read is full', () => {
    const cache = new StreamReadCache(1 << 20);
    cache.put('a', 0, runFrom('a', 0, 20));
    const sizes = messages('a', 1, 20).map((m) => m.byteLength);
    for (const after of [0, 3, 19]) {
      for (const maxBytes of [1, 10, 40, 1000]) {
        for (const maxMessages of [1, 2, 5, 100]) {
          for (const upTo of [after + 1, after + 3, 1000]) {
            let count = 0;
            let bytes = 0;
            while (after + count < 20 && count < maxMessages && after + count < upTo) {
              const size = sizes[after + count]!;
              if (count > 0 && bytes + size > maxBytes) break;
              bytes += size;
              count++;
            }
            const stopped =
              count === maxMessages ||
              after + count >= upTo ||
              (after + count < 20 && count > 0 && bytes + sizes[after + count]! > maxBytes);
            const part = cache.get('a', after, maxBytes, maxMessages, upTo);
            const label = `after ${after}, maxBytes ${maxBytes}, maxMessages ${maxMessages}, upTo ${upTo}`;
            expect(part.run.ends.length, label).toBe(count);
            expect(part.through, label).toBe(after + count);
            expect(part.full, label).toBe(stopped);
          }
        }
      }
    }
  });

  it('joins what it holds with what the store read after it, to the limits', () => {
    const cache = new StreamReadCache(1 << 20);
    cache.put('a', 0, runFrom('a', 0, 4));
    const cached = cache.get('a', 0, 1 << 20, 10);
    const joined = withCached(cached, runFrom('a', 4, 6), 1 << 20, 8, true);
    expect(split(joined)).toEqual(messages('a', 1, 8).map((m) => [...m]));
    const bytes4 = messages('a', 1, 4).reduce((n, m) => n + m.byteLength, 0);
    expect(withCached(cached, runFrom('a', 4, 6), bytes4, 10, true).ends).toHaveLength(4);
  });

  it('keeps its own copy, and gives the caller its own unless the caller only reads', () => {
    const cache = new StreamReadCache(1 << 20);
    const run = runFrom('a', 0, 3);
    cache.put('a', 0, run);
    run.bytes.fill(0);
    const shared = withCached(cache.get('a', 0, 1000, 10), runOf([]), 1000, 10, false);
    expect(split(shared)).toEqual(messages('a', 1, 3).map((m) => [...m]));
    const own = withCached(cache.get('a', 0, 1000, 10), runOf([]), 1000, 10, true);
    own.bytes.fill(0);
    expect(split(cache.get('a', 0, 1000, 10).run)).toEqual(messages('a', 1, 3).map((m) => [...m]));
  });

  it('a reader at the tail adds a message at a time: the pieces read as one', () => {
    const cache = new StreamReadCache(1 << 20);
    for (let p = 0; p < 500; p++) cache.put('a', p, runFrom('a', p, 1));
    expect(split(cache.get('a', 0, 1 << 20, 1000).run)).toEqual(messages('a', 1, 500).map((m) => [...m]));
    // Overlapping puts (two readers of one range) hold the same bytes once.
    cache.put('a', 100, runFrom('a', 100, 50));
    expect(split(cache.get('a', 90, 1 << 20, 1000).run)).toEqual(messages('a', 91, 410).map((m) => [...m]));
  });

  it('a read over a gap between held ranges fills the gap and reads as one', () => {
    const cache = new StreamReadCache(1 << 20);
    cache.put('a', 0, runFrom('a', 0, 10));
    cache.put('a', 20, runFrom('a', 20, 10));
    expect(cache.get('a', 0, 1 << 20, 1000).through).toBe(10);
    cache.put('a', 4, runFrom('a', 4, 21));
    expect(split(cache.get('a', 0, 1 << 20, 1000).run)).toEqual(messages('a', 1, 30).map((m) => [...m]));
  });

  it('stays within its bound: the stream least recently read leaves first; 0 keeps nothing', () => {
    const cache = new StreamReadCache(7000);
    // 100 messages: 701 bytes, and 864 of bookkeeping; a name and its id 70: four fit, not five.
    for (const id of 'abcd') cache.put(id, 0, runFrom(id, 0, 100), `s${id}`);
    cache.get('a', 0, 1 << 20, 1000); // a is now more recent than b
    cache.put('e', 0, runFrom('e', 0, 100), 'se');
    const held = (id: string) => cache.get(id, 0, 1 << 20, 1000).run.ends.length;
    expect([...'abcde'].map(held)).toEqual([100, 0, 100, 100, 100]);
    // A read larger than a quarter of the bound is not kept.
    cache.put('f', 0, runFrom('f', 0, 200));
    expect(held('f')).toBe(0);
    // The last id under each name counts too, within a sixteenth of the bound: 64 KiB keeps
    // about 4 KiB of names, so of 1,000 names of 1 KiB the last one or two.
    const names = new StreamReadCache(64 * 1024);
    const name = (i: number) => `${i}`.padEnd(1024, '.');
    for (let i = 0; i < 1000; i++) names.put(`id-${i}`, 0, runOf([]), name(i));
    expect(names.idOf(name(999))).toBe('id-999');
    expect(names.idOf(name(990))).toBeUndefined();
    const none = new StreamReadCache(0);
    none.put('a', 0, runFrom('a', 0, 3), 's');
    expect(none.get('a', 0, 1000, 10).run.ends).toHaveLength(0);
    expect(none.idOf('s')).toBeUndefined();
  });
});
