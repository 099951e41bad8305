import { randomUUID } from 'node:crypto';
import { idempotency } from '@stowage/middleware/fastify';
import Fastify, { type FastifyInstance } from 'fastify';
import type { AppStores } from './stores.js';

/**
 * The orders API on Fastify, over the same stores as the Express app: replicas of either share
 * Idempotency-Key reservations and the orders stream. A caller names itself in `X-User` here
 * (the Express app verifies JWTs; the point of this file is the plugin).
 *
 *   const app = await createFastifyOrders(stores); await app.listen({ port: 3001 });
 */
export async function createFastifyOrders(stores: AppStores): Promise<FastifyInstance> {
  await stores.streams.create('orders', { contentType: 'application/json' });
  const app = Fastify();
  await app.register(idempotency, {
    store: stores.idempotency,
    required: true,
    principal: (request) => (typeof request.headers['x-user'] === 'string' ? request.headers['x-user'] : undefined),
  });
  app.post('/orders', async (request, reply) => {
    const { item, qty = 1 } = (request.body ?? {}) as { item?: unknown; qty?: unknown };
    if (typeof item !== 'string' || !Number.isInteger(qty) || (qty as number) < 1) {
      return reply.code(400).send({ type: 'bad-order', title: 'An order is { "item": string, "qty": integer >= 1 }' });
    }
    const order = { id: randomUUID(), item, qty, by: request.headers['x-user'], at: new Date().toISOString() };
    await stores.streams.append('orders', [Buffer.from(JSON.stringify(order))], { contentType: 'application/json' });
    return reply.code(201).header('location', `/orders/${order.id}`).send(order);
  });
  return app;
}
