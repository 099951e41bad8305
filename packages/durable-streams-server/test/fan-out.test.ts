import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';
import { eventually, InstrumentedStore } from './instrumented-store.js';
import { sseReader } from './sse-text.js';

const N = 40;

/** Reads an SSE response until its text contains `marker`; the text. */
async function sseUntil(res: Response, marker: string): Promise<string> {
  const sse = sseReader(res);
  const text = await sse.until((t) => t.includes(marker));
  await sse.cancel();
  return text;
}

describe('many live readers of one stream, one append', () => {
  const inner = new MemoryStreamStore();
  const store = new InstrumentedStore(inner);
  let server: StreamsServer;
  let base = '';
  beforeAll(async () => {
    server = createStreamsServer({ store, longPollTimeoutMs: 60_000, sseMaxDurationMs: 60_000, sseHeartbeatMs: 60_000 });
    base = await server.listen(0);
  });
  afterAll(async () => {
    await server.close();
    await inner.close();
  });

  it.each([
    ['an append of this server: its message, with no read of the store', 0],
    ['an append of another process (made on the store itself): one read of the store', 1],
  ])('every long-poll and SSE reader gets the append; %s', async (_, reads) => {
    const name = `fan${reads}`;
    const put = await fetch(`${base}/${name}`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
    expect(put.status).toBe(201);
    const tail = encodeURIComponent(put.headers.get('stream-next-offset')!);
    const polls = Array.from({ length: N }, () => fetch(`${base}/${name}?offset=${tail}&live=long-poll`));
    const sses = await Promise.all(Array.from({ length: N }, () => fetch(`${base}/${name}?offset=${tail}&live=sse`)));
    expect(await eventually(() => server.handler.waitingReaders === 2 * N)).toBe(true);
    // Every reader waits at the same offset: one wait of the store for all of them.
    expect(store.waitsInFlight).toBe(1);

    const readsBefore = store.readsStarted;
    const waitsBefore = store.waitsStarted;
    if (reads === 0) {
      const append = await fetch(`${base}/${name}`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'woken' });
      expect(append.status).toBe(204);
    } else {
      await inner.append(name, [Buffer.from('woken')]);
    }
    const answers = await Promise.all(polls);
    const bodies = await Promise.all(answers.map((r) => r.text()));
    const events = await Promise.all(sses.map((r) => sseUntil(r, 'data:woken')));

    expect(answers.map((r) => r.status)).toEqual(Array(N).fill(200));
    expect(bodies).toEqual(Array(N).fill('woken'));
    expect(events.filter((e) => e.includes('data:woken'))).toHaveLength(N);
    // The readers woken by one append share its message, or the one read of what it added.
    expect(store.readsStarted - readsBefore).toBe(reads);
    // The SSE readers wait again, at the new tail, on one new wait of the store (each began
    // its own, with a look at the store, before: 10,000 queries per append on a database).
    expect(await eventually(() => server.handler.waitingReaders === N)).toBe(true);
    expect(store.waitsInFlight).toBe(1);
    expect(store.waitsStarted - waitsBefore).toBe(1);
  });
});
