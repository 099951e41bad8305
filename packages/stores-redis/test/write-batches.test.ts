import { createServer, connect as dial, type Server } from 'node:net';
import { newNamespace } from '@stowage/conformance';
import { redisBackends } from '@stowage/conformance/backends';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { BATCH, WriteBatches } from '../src/clients/write-batches.js';
import { RedisRateLimitStore } from '../src/index.js';

const backends = await redisBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

const nextIteration = () => new Promise((resolve) => setImmediate(resolve));

describe('WriteBatches', () => {
  it(`hands over ${BATCH} commands per event-loop iteration, in the order issued, and a lone one at once`, async () => {
    const batches = new WriteBatches();
    let iteration = 0;
    // Counts event-loop iterations: queued before the sends, it runs first in each check phase.
    const ticker = () => {
      iteration++;
      if (iteration < 50) setImmediate(ticker);
    };
    setImmediate(ticker);
    const handed: [number, number][] = [];
    const sends = Array.from({ length: 2 * BATCH + 5 }, (_, i) => batches.send(async () => handed.push([i, iteration])));
    expect(handed.map(([i]) => i)).toEqual(Array.from({ length: BATCH }, (_, i) => i)); // the first batch: now
    await Promise.all(sends);
    expect(handed.map(([i]) => i)).toEqual(Array.from({ length: 2 * BATCH + 5 }, (_, i) => i));
    const perIteration = new Map<number, number>();
    for (const [, at] of handed) perIteration.set(at, (perIteration.get(at) ?? 0) + 1);
    expect([...perIteration.values()]).toEqual([BATCH, BATCH, 5]);

    // Later, with nothing waiting: a lone command is handed over in the same turn.
    await nextIteration();
    await nextIteration();
    let sent = false;
    const lone = batches.send(async () => {
      sent = true;
    });
    expect(sent).toBe(true);
    await lone;
  });

  it('a send that throws, now or later, rejects its own call only', async () => {
    const batches = new WriteBatches();
    const boom = () => {
      throw new Error('boom');
    };
    expect(() => batches.send(boom)).toThrow('boom'); // handed over at once: thrown as the client threw it
    const calls = Array.from({ length: BATCH + 2 }, (_, i) => (i === BATCH ? batches.send(boom) : batches.send(async () => i)));
    const settled = await Promise.allSettled(calls);
    expect(settled[BATCH]).toMatchObject({ status: 'rejected', reason: { message: 'boom' } });
    expect(settled.filter((s) => s.status === 'fulfilled').map((s) => (s as PromiseFulfilledResult<number>).value)).toEqual(
      Array.from({ length: BATCH + 2 }, (_, i) => i).filter((i) => i !== BATCH),
    );
  });
});

/** A relay on loopback to Redis that counts the `EVALSHA` commands of each chunk it receives from the client. */
async function countingRelay(target: URL): Promise<{ url: string; chunks: number[]; close(): void }> {
  const chunks: number[] = [];
  const marker = Buffer.from('EVALSHA');
  const server: Server = createServer((client) => {
    const upstream = dial(Number(target.port), target.hostname);
    client.on('data', (chunk: Buffer) => {
      let n = 0;
      for (let at = chunk.indexOf(marker); at >= 0; at = chunk.indexOf(marker, at + 1)) n++;
      if (n > 0) chunks.push(n);
      upstream.write(chunk);
    });
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `redis://127.0.0.1:${port}`, chunks, close: () => server.close() };
}

describe('node-redis: the calls of one turn reach Redis in batches', () => {
  const policy = { algorithm: 'fixed-window', limit: 1000, windowMs: 60_000 } as const;

  for (const coalesceWrites of [true, false]) {
    it(`coalesceWrites ${coalesceWrites}: 100 consumes issued together, decided in order`, async () => {
      const relay = await countingRelay(new URL(backends[0]!.url!));
      const client = createClient({ url: relay.url });
      await client.connect();
      try {
        const store = new RedisRateLimitStore({ client, prefix: newNamespace(), coalesceWrites });
        await store.consume('warm', policy); // the client's first script waits for a clock sample (TIME)
        relay.chunks.length = 0;
        const decisions = await Promise.all(Array.from({ length: 100 }, () => store.consume('k', policy)));
        expect(decisions.map((d) => d.remaining)).toEqual(Array.from({ length: 100 }, (_, i) => 999 - i));
        expect(relay.chunks.reduce((a, b) => a + b, 0)).toBe(100);
        if (coalesceWrites) {
          // At most BATCH per write (a chunk may hold less: TCP may split a write, never join two here).
          expect(Math.max(...relay.chunks)).toBeLessThanOrEqual(BATCH);
          expect(relay.chunks.length).toBeGreaterThanOrEqual(Math.ceil(100 / BATCH));
        } else {
          expect(Math.max(...relay.chunks)).toBeGreaterThan(BATCH); // node-redis's own: one write
        }
      } finally {
        await client.close();
        relay.close();
      }
    });
  }
});
