import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createFastifyOrders } from '../src/fastify-orders.js';
import { type AppStores, assemble } from '../src/stores.js';

/** Two Fastify replicas of the orders API on one backend: one order per Idempotency-Key. */
await describeStoreBackends((backend) => {
  let set: StoreSet;
  let shared: AppStores;
  const urls: string[] = [];
  const apps: FastifyInstance[] = [];
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
    const open = () =>
      assemble(
        [set.sessions(), set.rateLimits(), set.idempotency(), set.csrf(), set.locks(), set.jwks(), set.streams()],
        backend.name,
        async () => {},
      );
    shared = open();
    for (let i = 0; i < 2; i++) {
      // Each replica has its own stores on the backend; memory has no backend but this process.
      const stores = i === 0 || backend.name === 'memory' ? shared : open();
      const app = await createFastifyOrders(stores);
      urls.push(await app.listen({ port: 0, host: '127.0.0.1' }));
      apps.push(app);
    }
  });
  afterAll(async () => {
    for (const app of apps) await app.close();
    await set.close();
  });

  it('12 concurrent retries of one order over two replicas: one order in the stream, every answer the same bytes', async () => {
    const key = `"order-${Date.now()}"`;
    const before = (await shared.streams.head('orders'))!.nextOffset;
    const post = (i: number) =>
      fetch(`${urls[i % 2]}/orders`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key, 'x-user': 'ada' },
        body: '{"item":"tea","qty":2}',
      });
    // Retry 409s (the key is held by the first run) as a client would, until each gets the order.
    const answers = await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        for (;;) {
          const res = await post(i);
          if (res.status !== 409) return { status: res.status, body: await res.text() };
          await new Promise((r) => setTimeout(r, 50));
        }
      }),
    );
    expect(answers.map((a) => a.status)).toEqual(Array(12).fill(201));
    expect(new Set(answers.map((a) => a.body)).size).toBe(1);
    const read = await shared.streams.read('orders', before);
    expect(read.messages.length).toBe(1);
    expect(JSON.parse(Buffer.from(read.messages[0]!.data).toString('utf8'))).toEqual(JSON.parse(answers[0]!.body));
  });
});
