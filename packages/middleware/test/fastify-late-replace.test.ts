// A streamed reply behind an onSend hook registered after the plugin that awaits (Fastify
// pipes the stream only once that hook is done). The stream ends at once and the plugin starts
// storing it; while the store call runs, the handler throws or sends again. That later reply
// used to go out while the stream was stored and replayed. The stream's store had begun, so
// the stream is what is stored, and it is what the later reply now sends.
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency } from '../src/fastify.js';
import { listenFastify, slowComplete } from './fastify-app.js';
import { headerOf, postJson } from './http.js';

const AFTER: Record<string, (reply: FastifyReply) => void> = {
  '/again': (reply) => void reply.send('again'),
  '/throw': () => {
    throw new Error('audit log failed');
  },
};

await describeStoreBackends(
  (backend) => {
    let set: StoreSet;
    let app: FastifyInstance;
    let url: string;
    const runs = new Map<string, number>();
    beforeAll(async () => {
      set = await backend.open(freshNamespace());
      app = Fastify({ logger: false });
      await app.register(idempotency, { store: slowComplete(set.idempotency(), 30), timeoutMs: 5000 });
      for (const [path, after] of Object.entries(AFTER)) {
        app.post(path, async (request, reply) => {
          const key = String(request.headers['idempotency-key']);
          runs.set(key, (runs.get(key) ?? 0) + 1);
          reply
            .code(201)
            .type('text/plain')
            .send(Readable.from(['a']));
          await sleep(10);
          after(reply);
          return reply; // as Fastify asks of an async handler that sent (else it sends again, empty)
        });
      }
      app.addHook('onSend', async (_request, _reply, payload) => {
        await sleep(50); // e.g. an audit or signing hook that awaits
        return payload;
      });
      url = (await listenFastify(app)).url;
    });
    afterAll(async () => {
      await app.close();
      await set?.close();
    });
    const call = async (path: string, key: string) => {
      const r = await postJson(`${url}${path}`, key, {}).catch(() => undefined);
      if (r === undefined) return { status: 0, body: '', replayed: false };
      return { status: r.status, body: r.body.toString().slice(0, 40), replayed: headerOf(r, 'idempotent-replayed') === 'true' };
    };
    for (const path of Object.keys(AFTER)) {
      it(`${path}: the stream is held while it is stored, so the client and the retry get it`, async () => {
        const key = freshNamespace();
        const first = await call(path, key);
        await sleep(100);
        const retry = await call(path, key);
        expect({ first, retry, runs: runs.get(key) }).toEqual({
          first: { status: 201, body: 'a', replayed: false },
          retry: { status: 201, body: 'a', replayed: true },
          runs: 1,
        });
      });
    }
  },
  ['memory', 'sqlite'],
);
