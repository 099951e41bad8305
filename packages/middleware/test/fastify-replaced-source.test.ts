// A streamed reply replaced by a later one (here a 409 thrown by the handler): its source is
// destroyed, as Fastify destroys it without the plugin. It used to be read "to its end", so a
// source that does not end (a live feed, a cursor that waits) was read for ever.
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency } from '../src/fastify.js';

await describeStoreBackends((backend) => {
  let set: StoreSet;
  const apps: FastifyInstance[] = [];
  const sources: { reads: number; destroyed: boolean }[] = [];
  const build = async (withPlugin: boolean) => {
    const app = Fastify({ logger: false });
    if (withPlugin) await app.register(idempotency, { store: set.idempotency() });
    app.post('/feed', async (_request, reply) => {
      const state = { reads: 0, destroyed: false };
      sources.push(state);
      const feed = new Readable({
        read() {
          state.reads++;
          setTimeout(() => this.push(`tick ${state.reads}\n`), 5);
        },
        destroy(err, cb) {
          state.destroyed = true;
          cb(err);
        },
      });
      reply.code(200).type('text/plain').send(feed);
      throw Object.assign(new Error('subscription refused'), { statusCode: 409 });
    });
    apps.push(app);
    return app;
  };
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await set?.close();
  });

  it('the replaced source is destroyed once the response is over, as without the plugin', async () => {
    for (const withPlugin of [false, true]) {
      const app = await build(withPlugin);
      const r = await app.inject({ method: 'POST', url: '/feed', headers: { 'idempotency-key': freshNamespace() } });
      expect(r.statusCode).toBe(409);
    }
    await sleep(200);
    expect(sources.map((s) => s.destroyed)).toEqual([true, true]);
  });
});
