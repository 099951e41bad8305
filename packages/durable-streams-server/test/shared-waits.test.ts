// Live readers at the same stream and offset share one wait of the store: each keeps its own
// time limit and signal, the shared wait ends with its last reader, and is renewed for the
// readers that came later and wait longer.
import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterAll, describe, expect, it } from 'vitest';
import { SharedWaits } from '../src/shared-waits.js';
import { eventually, InstrumentedStore } from './instrumented-store.js';

describe('SharedWaits', () => {
  const inner = new MemoryStreamStore();
  const store = new InstrumentedStore(inner);
  const counts: number[] = [];
  const waits = new SharedWaits(store, (d) => counts.push(d));
  let n = 0;
  /** A new stream and its tail. */
  const stream = async (): Promise<[string, string]> => {
    const name = `s${++n}`;
    await store.create(name, { contentType: 'text/plain' });
    return [name, (await store.head(name))!.nextOffset];
  };
  const append = (name: string) => store.append(name, [Buffer.from('x')]);
  afterAll(() => inner.close());

  it('readers at one offset share one store wait and are all woken by one append', async () => {
    const [name, tail] = await stream();
    const started = store.waitsStarted;
    const outcomes = Array.from({ length: 50 }, () => waits.wait(name, tail, 30_000, new AbortController().signal));
    expect(waits.waiting).toBe(50);
    expect(store.waitsStarted - started).toBe(1);
    await append(name);
    expect(await Promise.all(outcomes)).toEqual(Array(50).fill('data'));
    expect(waits.waiting).toBe(0);
    expect(await eventually(() => store.waitsInFlight === 0)).toBe(true);
  });

  it('a reader that leaves does not end the others; the last one ends the store wait', async () => {
    const [name, tail] = await stream();
    const a = new AbortController();
    const b = new AbortController();
    const first = waits.wait(name, tail, 30_000, a.signal);
    const second = waits.wait(name, tail, 30_000, b.signal);
    expect(await eventually(() => store.waitsInFlight === 1)).toBe(true);
    a.abort();
    expect(await first).toBe('aborted');
    expect(store.waitsInFlight).toBe(1);
    b.abort();
    expect(await second).toBe('aborted');
    expect(await eventually(() => store.waitsInFlight === 0)).toBe(true);
    expect(waits.waiting).toBe(0);
  });

  it('each reader keeps its own time limit; the wait is renewed for one that came later', async () => {
    const [name, tail] = await stream();
    const started = store.waitsStarted;
    const short = waits.wait(name, tail, 300, new AbortController().signal);
    const long = waits.wait(name, tail, 30_000, new AbortController().signal);
    expect(await short).toBe('timeout');
    // Past the first reader's time limit the other still waits, and an append wakes it.
    await new Promise((r) => setTimeout(r, 300));
    expect(waits.waiting).toBe(1);
    await append(name);
    expect(await long).toBe('data');
    expect(store.waitsStarted - started).toBe(2); // the first, and its renewal for the later reader
    expect(await eventually(() => store.waitsInFlight === 0)).toBe(true);
  });

  it('an aborted signal never reaches the store', async () => {
    const [name, tail] = await stream();
    const started = store.waitsStarted;
    const ac = new AbortController();
    ac.abort();
    expect(await waits.wait(name, tail, 30_000, ac.signal)).toBe('aborted');
    expect(store.waitsStarted).toBe(started);
  });

  it('a failing store wait rejects every reader; the next readers start a new one', async () => {
    const [name, tail] = await stream();
    const outcomes = Array.from({ length: 3 }, () => waits.wait(name, tail, 30_000, new AbortController().signal));
    expect(await eventually(() => store.waitsInFlight === 1)).toBe(true);
    const broken = new Error('backend gone');
    store.failWaits(broken);
    const settled = await Promise.allSettled(outcomes);
    expect(settled.map((s) => (s.status === 'rejected' ? s.reason : s.value))).toEqual([broken, broken, broken]);
    expect(waits.waiting).toBe(0);
    const again = waits.wait(name, tail, 30_000, new AbortController().signal);
    expect(await eventually(() => store.waitsInFlight === 1)).toBe(true);
    await append(name);
    expect(await again).toBe('data');
  });

  it('tells its counter of every reader that starts and stops', () => {
    expect(counts.filter((d) => d === 1)).toHaveLength(counts.filter((d) => d === -1).length);
    expect(counts.length).toBeGreaterThan(0);
  });
});
