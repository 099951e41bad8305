import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotency } from '../src/fastify.js';

// A handler that goes on after it sent its reply: throws, or sends again. Behind the plugin
// the client must get what it gets without it, and the retry must replay exactly that. The
// plugin holds a reply until it is stored; a second send, or the error reply of the throw,
// used to go out instead (500 to the client, 201 replayed to its retry).

type Handler = (request: unknown, reply: FastifyReply) => unknown;
const HANDLERS: Record<string, Handler> = {
  'sends, then throws': async (_request, reply) => {
    reply.code(201).send({ created: true });
    throw new Error('audit log failed');
  },
  'sends twice': (_request, reply) => {
    reply.code(201).send({ a: 1 });
    reply.send({ b: 2 });
  },
  'sends with the default status, then throws': async (_request, reply) => {
    reply.send({ ok: true });
    throw Object.assign(new Error('refused'), { statusCode: 409 });
  },
};

await describeStoreBackends((backend) => {
  let set: StoreSet;
  const apps: FastifyInstance[] = [];
  const build = async (withPlugin: boolean) => {
    const app = Fastify({ logger: false });
    if (withPlugin) await app.register(idempotency, { store: set.idempotency(), timeoutMs: 5000 });
    for (const [i, handler] of Object.values(HANDLERS).entries()) app.post(`/${i}`, handler);
    apps.push(app);
    return app;
  };
  let plain: FastifyInstance;
  let guarded: FastifyInstance;
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
    plain = await build(false);
    guarded = await build(true);
  });
  afterAll(async () => {
    await Promise.all(apps.map((a) => a.close()));
    await set?.close();
  });

  const post = async (app: FastifyInstance, url: string, key: string) => {
    const r = await app.inject({
      method: 'POST',
      url,
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      payload: '{}',
    });
    return { status: r.statusCode, body: r.body, replayed: r.headers['idempotent-replayed'] === 'true' };
  };

  describe('a handler that goes on after its reply', () => {
    Object.keys(HANDLERS).forEach((name, i) => {
      it(`${name}: the client gets what it gets without the plugin, and the retry replays it`, async () => {
        const key = `after-send-${i}-${freshNamespace()}`;
        const without = await post(plain, `/${i}`, key);
        expect(await post(guarded, `/${i}`, key)).toEqual(without);
        expect(await post(guarded, `/${i}`, key)).toEqual({ ...without, replayed: true });
      });
    });
  });
});
