// A 304 whose payload is a stream that fails before its first byte: Fastify still pipes a
// 304's stream, finds the error and answers its error reply (the error's 404), as without the
// plugin. The plugin used to take a 304 as bodiless and store it at once: the client got 404,
// the retry a replayed 304. The stream is now watched whatever the status.
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency } from '../src/fastify.js';
import { failingStream, listenFastify } from './fastify-app.js';
import { headerOf, postJson } from './http.js';

await describeStoreBackends(
  (backend) => {
    let set: StoreSet;
    const apps: FastifyInstance[] = [];
    const urls: string[] = [];
    const runs = new Map<string, number>();
    beforeAll(async () => {
      set = await backend.open(freshNamespace());
      for (const withPlugin of [false, true]) {
        const app = Fastify({ logger: false });
        if (withPlugin) await app.register(idempotency, { store: set.idempotency(), timeoutMs: 5000 });
        app.post('/cached', async (request, reply) => {
          const key = String(request.headers['idempotency-key']);
          runs.set(key, (runs.get(key) ?? 0) + 1);
          return reply.code(304).send(failingStream(Object.assign(new Error('no such file'), { statusCode: 404 })));
        });
        apps.push(app);
        urls.push((await listenFastify(app)).url);
      }
    });
    afterAll(async () => {
      await Promise.all(apps.map((a) => a.close()));
      await set?.close();
    });
    const call = async (url: string, key: string) => {
      const r = await postJson(`${url}/cached`, key, {});
      return { status: r.status, replayed: headerOf(r, 'idempotent-replayed') === 'true' };
    };

    it('the retry gets what the client got', async () => {
      const plain = await call(urls[0]!, freshNamespace());
      const key = freshNamespace();
      const first = await call(urls[1]!, key);
      await sleep(50);
      const retry = await call(urls[1]!, key);
      expect({ plain, first, retry, runs: runs.get(key) }).toEqual({
        plain: { status: 404, replayed: false },
        first: { status: 404, replayed: false },
        retry: { status: 404, replayed: true },
        runs: 1,
      });
    });
  },
  ['memory', 'sqlite'],
);
