// Requests that took the process down behind the Fastify idempotency plugin (each works
// without it): an unhandled rejection or an uncaught error ends a plain Node process.
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import Fastify from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency } from '../src/fastify.js';
import { failingStream } from './fastify-app.js';

const crashes: string[] = [];
process.on('unhandledRejection', (e) => void crashes.push(`unhandledRejection ${String(e)}`));
process.on('uncaughtException', (e) => void crashes.push(`uncaughtException ${String(e)}`));

await describeStoreBackends((backend) => {
  let set: StoreSet;
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
  });
  afterAll(async () => set?.close());

  it('an onSend hook after the plugin that throws, with a handler that does `return reply.send(...)`', async () => {
    crashes.length = 0;
    const app = Fastify();
    await app.register(idempotency, { store: set.idempotency() });
    app.addHook('onSend', async () => {
      throw new Error('a later onSend hook failed');
    });
    let runs = 0;
    app.post('/x', async (_request, reply) => {
      runs++;
      return reply.code(201).send({ ok: true }); // the style Fastify's docs recommend
    });
    const r = await app.inject({ method: 'POST', url: '/x', headers: { 'idempotency-key': freshNamespace() } });
    await sleep(50); // let the handler's promise settle
    await app.close();
    expect([r.statusCode, runs]).toEqual([500, 1]);
    expect(crashes).toEqual([]);
  });

  it('a stream that fails before Fastify pipes it, while a later onSend hook awaits', async () => {
    crashes.length = 0;
    const app = Fastify();
    await app.register(idempotency, { store: set.idempotency() });
    app.addHook('onSend', async (_request, _reply, payload) => (await sleep(20), payload)); // e.g. an audit hook doing I/O
    app.post('/x', async (_request, reply) =>
      reply
        .code(201)
        .type('text/plain')
        .send(failingStream(new Error('the stream failed'), 'a')),
    );
    await app.inject({ method: 'POST', url: '/x', headers: { 'idempotency-key': freshNamespace() } }).catch(() => undefined);
    await sleep(50);
    await app.close();
    expect(crashes).toEqual([]);
  });
});
