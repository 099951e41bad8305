// An idle SSE reader costs the store one wait, whatever its heartbeats: a wait per heartbeat
// would make 10,000 idle readers look at a database about 670 times a second at 15 s.
import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';
import { InstrumentedStore } from './instrumented-store.js';
import { sseReader } from './sse-text.js';

const HEARTBEAT = ': \n\n';

const count = (text: string, part: string): number => text.split(part).length - 1;

describe('SSE heartbeats', () => {
  const inner = new MemoryStreamStore();
  const store = new InstrumentedStore(inner);
  let server: StreamsServer;
  let base = '';
  beforeAll(async () => {
    server = createStreamsServer({ store, sseHeartbeatMs: 30, sseMaxDurationMs: 20_000 });
    base = await server.listen(0);
  });
  afterAll(async () => {
    await server.close();
    await inner.close();
  });

  it('keep coming while the reader waits on one store wait, before and after a wake', async () => {
    const put = await fetch(`${base}/beat`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
    expect(put.status).toBe(201);
    const tail = encodeURIComponent(put.headers.get('stream-next-offset')!);
    const waitsBefore = store.waitsStarted;
    const res = await fetch(`${base}/beat?offset=${tail}&live=sse`);
    expect(res.status).toBe(200);
    const sse = sseReader(res);
    try {
      await sse.until((t) => count(t, HEARTBEAT) >= 5);
      expect(store.waitsStarted - waitsBefore).toBe(1);
      expect(store.waitsInFlight).toBe(1);

      const append = await fetch(`${base}/beat`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'woken' });
      expect(append.status).toBe(204);
      const atWake = (await sse.until((t) => t.includes('data:woken'))).length;
      const text = await sse.until((t) => count(t.slice(atWake), HEARTBEAT) >= 5);
      // One wait before the append, one after it: none per heartbeat.
      expect(store.waitsStarted - waitsBefore).toBe(2);
      expect(count(text, 'event: control')).toBe(2);
    } finally {
      await sse.cancel();
    }
  });
});
