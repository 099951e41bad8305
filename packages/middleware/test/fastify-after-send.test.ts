import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { AddressInfo } from 'node:net';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotency } from '../src/fastify.js';
import { failingStream } from './fastify-app.js';
import { headerOf, postJson } from './http.js';

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

/** A stream whose second chunk comes 50 ms after its first. */
const slowStream = () =>
  Readable.from(
    (async function* () {
      yield 'a';
      await sleep(50);
      yield 'b';
    })(),
  );

// Replies a stream takes over, a later onSend hook changes or fails, a timer changes while it
// is stored. Without the plugin some of these race Fastify's own writes; with it, what the
// client got is what its retry gets: replayed when it was stored, run again when it was not.
const REPLACED: Record<string, Handler> = {
  'sends a stream, then throws': async (_request, reply) => {
    reply
      .code(201)
      .type('text/plain')
      .send(Readable.from(['a', 'b']));
    throw new Error('audit log failed');
  },
  'sends a slow stream, then throws': async (_request, reply) => {
    reply.code(201).type('text/plain').send(slowStream());
    throw new Error('audit log failed');
  },
  'sends a slow stream, then sends again': (_request, reply) => {
    reply.code(201).type('text/plain').send(slowStream());
    reply.send('again');
  },
  // A later onSend hook that awaits: the stream fails before Fastify pipes it (it used to end the process).
  'sends a stream that fails, behind a later hook that awaits': (_request, reply) =>
    void reply
      .code(201)
      .type('text/plain')
      .send(failingStream(new Error('the source failed'), 'a')),
  'sends, and a later onSend hook upper-cases a string': (_request, reply) => void reply.code(201).send({ created: true }),
  'sends, then sets headers from timers': (_request, reply) => {
    reply.code(201).send({ created: true });
    setImmediate(() => reply.header('x-late', 'immediate'));
    setTimeout(() => reply.header('x-later', 'timer'), 1);
  },
  'sends a stream that fails with a 404 before its first byte': (_request, reply) =>
    void reply
      .code(201)
      .type('text/plain')
      .send(failingStream(Object.assign(new Error('no such export'), { statusCode: 404 }))),
  'sends a slow stream, then sends again once it is under way': async (_request, reply) => {
    reply.code(201).type('text/plain').send(slowStream());
    await sleep(25);
    reply.send('again');
  },
};

/** Per REPLACED handler: the client's status (0: the connection was cut), its retry's, and how many times the handler ran. */
const EXPECTED: Record<string, [number, number, number]> = {
  'sends a stream, then throws': [500, 500, 2],
  'sends a slow stream, then throws': [500, 500, 2],
  'sends a slow stream, then sends again': [201, 201, 1],
  'sends a stream that fails, behind a later hook that awaits': [500, 500, 2],
  'sends, and a later onSend hook upper-cases a string': [201, 201, 1],
  'sends, then sets headers from timers': [201, 201, 1],
  // Fastify's error reply (the error's 404) takes the failed stream's place, and is kept.
  'sends a stream that fails with a 404 before its first byte': [404, 404, 1],
  // The stream's head is out when the second reply comes: Fastify cuts the connection (0), nothing is stored.
  'sends a slow stream, then sends again once it is under way': [0, 0, 2],
};

await describeStoreBackends((backend) => {
  let set: StoreSet;
  const apps: FastifyInstance[] = [];
  const runs = new Map<string, number>();
  const build = async (withPlugin: boolean) => {
    const app = Fastify({ logger: false });
    if (withPlugin) await app.register(idempotency, { store: set.idempotency(), timeoutMs: 5000 });
    for (const [i, handler] of Object.values(HANDLERS).entries()) app.post(`/${i}`, handler);
    // Registered after the plugin: these run after its onSend hook.
    app.addHook('onSend', async (request, _reply, payload) => {
      if (request.url === '/r3') await sleep(5);
      if (request.url === '/r4') return typeof payload === 'string' ? payload.toUpperCase() : `not a string: ${typeof payload}`;
      return payload;
    });
    for (const [i, handler] of Object.values(REPLACED).entries()) {
      app.post(`/r${i}`, (request, reply) => {
        const key = String(request.headers['idempotency-key']);
        runs.set(key, (runs.get(key) ?? 0) + 1);
        return handler(request, reply);
      });
    }
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
    const late = [r.headers['x-late'], r.headers['x-later']].filter((v) => v !== undefined);
    return { status: r.statusCode, body: r.body, replayed: r.headers['idempotent-replayed'] === 'true', late };
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

  describe('a reply replaced, or changed after the plugin (over HTTP)', () => {
    let url: string;
    beforeAll(async () => {
      await guarded.listen({ port: 0, host: '127.0.0.1' });
      url = `http://127.0.0.1:${(guarded.server.address() as AddressInfo).port}`;
    });
    Object.keys(REPLACED).forEach((name, i) => {
      it(`${name}: the retry gets what the client got, replayed only if it ran once`, async () => {
        const key = `replaced-${i}-${freshNamespace()}`;
        const call = async () => {
          const r = await postJson(`${url}/r${i}`, key, {}).catch(() => undefined);
          if (r === undefined) return { status: 0, body: '', replayed: false, late: [] };
          const late = ['x-late', 'x-later'].map((h) => headerOf(r, h)).filter((v) => v !== undefined);
          return { status: r.status, body: r.body.toString(), replayed: headerOf(r, 'idempotent-replayed') === 'true', late };
        };
        const first = await call();
        const retry = await call();
        const [status, retryStatus, runCount] = EXPECTED[name]!;
        expect([first.status, first.replayed, retry.status, runs.get(key)]).toEqual([status, false, retryStatus, runCount]);
        // Stored (one run): the retry replays what the client got. Not stored (a 5xx): it ran again.
        if (runCount === 1) expect(retry).toEqual({ ...first, replayed: true });
        else expect(retry.replayed).toBe(false);
      });
    });
  });
});
