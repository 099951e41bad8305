// A later reply (a throw, a second send) after a streamed reply's source ended, while the
// plugin stores it (the backend paused to widen the window): the reply is held as sent, as a
// string or Buffer reply is, so the client gets the stream, as without the plugin, and its
// retry the replay. The later reply used to go out (500, or 200 "again") while the stream's 201
// was stored and replayed.
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency } from '../src/fastify.js';
import { listenFastify } from './fastify-app.js';
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
        const route = (path: string, after: (reply: FastifyReply) => void) =>
          app.post(path, async (request, reply) => {
            const key = String(request.headers['idempotency-key']);
            runs.set(key, (runs.get(key) ?? 0) + 1);
            if (withPlugin) await set.pause(300); // the store call after the stream ends waits
            const rows = Readable.from([]); // a query that found no rows
            reply.code(201).type('text/plain').send(rows);
            await finished(rows);
            await sleep(20);
            after(reply);
          });
        route('/throw', () => {
          throw new Error('audit failed');
        });
        route('/again', (reply) => void reply.code(200).send('again'));
        apps.push(app);
        urls.push((await listenFastify(app)).url);
      }
      await postJson(`${urls[1]}/again`, 'warm-up', {}); // the tables exist before a pause
    });
    afterAll(async () => {
      await Promise.all(apps.map((a) => a.close()));
      await set?.close();
    });
    const call = async (url: string, key: string) => {
      const r = await postJson(url, key, {});
      return { status: r.status, body: r.body.toString().slice(0, 20), replayed: headerOf(r, 'idempotent-replayed') === 'true' };
    };
    for (const path of ['/throw', '/again']) {
      it(`${path}: the retry gets what the client got`, async () => {
        const plain = await call(`${urls[0]}${path}`, freshNamespace());
        expect(plain).toEqual({ status: 201, body: '', replayed: false });
        const key = freshNamespace();
        const first = await call(`${urls[1]}${path}`, key);
        await sleep(400);
        const retry = await call(`${urls[1]}${path}`, key);
        expect({ first, retry, runs: runs.get(key) }).toEqual({ first: plain, retry: { ...plain, replayed: true }, runs: 1 });
      });
    }
  },
  ['postgres', 'redis'],
);
