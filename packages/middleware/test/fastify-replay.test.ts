// Byte-exact replays on Fastify: status, every header line however the handler set it
// (reply.header, reply.raw.setHeader with capitals, arrays, a fetch Response), and the body
// bytes (an object serialised, a string, a Buffer, Node and web streams), on every backend.
import { Readable } from 'node:stream';
import { ReadableStream } from 'node:stream/web';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IdempotencyStore } from '@stowage/core';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import Fastify, { type FastifyReply } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency } from '../src/fastify.js';
import { listenFastify } from './fastify-app.js';
import { headerOf, postJson, representation, type RawResponse, type Running } from './http.js';

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));

async function* slowly(parts: string[]) {
  for (const part of parts) {
    await sleep(5);
    yield Buffer.from(part);
  }
}

/** Handlers, each replying in its own way. */
const handlers: Record<string, (reply: FastifyReply) => unknown> = {
  'an object serialised as JSON, with reply.header': (reply) => {
    reply.code(201).header('Location', '/orders/7').header('x-order', '7');
    return { id: 7, name: 'Zoë 🚀' };
  },
  'reply.raw.setHeader with capitals beside reply.header': (reply) => {
    reply.raw.setHeader('X-Raw-Case', 'kept');
    reply.raw.setHeader('Cache-Control', 'no-store');
    reply.header('x-lower', 'l');
    return 'text';
  },
  'a header with several lines': (reply) => {
    reply.header('link', ['</a>; rel="a"', '</b>; rel="b"']);
    reply.raw.setHeader('X-Pair', ['one', 'two']);
    return reply.code(202).send('pairs');
  },
  'a binary Buffer': (reply) => reply.type('application/octet-stream').send(ALL_BYTES),
  'a string with a charset': (reply) => reply.type('text/plain; charset=utf-8').send('Zoë 🚀'),
  'a Node stream': (reply) =>
    reply
      .code(201)
      .type('text/plain')
      .send(Readable.from(slowly(['first ', 'second ', 'third']))),
  'a Node stream without Content-Type': (reply) => reply.send(Readable.from(slowly(['untyped ', 'bytes']))),
  'a web ReadableStream': (reply) => {
    const parts = ['web ', 'stream'];
    const stream = new ReadableStream<Uint8Array>({
      async pull(controller) {
        await sleep(5);
        const next = parts.shift();
        if (next === undefined) controller.close();
        else controller.enqueue(new TextEncoder().encode(next));
      },
    });
    return reply.type('text/plain').send(stream);
  },
  'a fetch Response': (reply) =>
    reply.send(new Response('from a Response', { status: 202, headers: { 'X-From': 'response', 'Content-Type': 'text/plain' } })),
  '204 without a body': (reply) => reply.code(204).header('x-empty', 'yes').send(),
  'an empty 200': (reply) => reply.send(),
  'headers named constructor, __proto__, toString': (reply) => {
    reply.header('constructor', 'c');
    reply.raw.setHeader('__proto__', 'p');
    reply.header('toString', 't');
    reply.header('hasOwnProperty', ['h1', 'h2']);
    return reply.code(201).send({ ok: true });
  },
  'an error the error handler answers 400': () => {
    throw Object.assign(new Error('no such product'), { statusCode: 400 });
  },
};

const routeOf = (name: string): string => `/reply-${Object.keys(handlers).indexOf(name)}`;

await describeStoreBackends((backend) => {
  let set: StoreSet;
  let app: Running;
  const runs = new Map<string, number>();
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
    const fastify = Fastify({ forceCloseConnections: true });
    await fastify.register(async (all) => {
      await all.register(idempotency, { store: set.idempotency() });
      for (const [name, handler] of Object.entries(handlers)) {
        all.post(routeOf(name), async (_request, reply) => {
          runs.set(name, (runs.get(name) ?? 0) + 1);
          return handler(reply);
        });
      }
    });
    // A store that takes 300 ms to keep a response: the reply must wait for it.
    const store = set.idempotency();
    const slowToKeep: IdempotencyStore = {
      reserve: (...args) => store.reserve(...args),
      complete: async (...args) => (await sleep(300), store.complete(...args)),
      release: (...args) => store.release(...args),
      extend: (...args) => store.extend(...args),
      prune: () => store.prune(),
      close: () => store.close(),
    };
    await fastify.register(async (slow) => {
      await slow.register(idempotency, { store: slowToKeep });
      slow.post('/slow-to-keep', async (_request, reply) => {
        runs.set('slow-to-keep', (runs.get('slow-to-keep') ?? 0) + 1);
        return reply.code(201).send(reply.request.headers['x-stream'] === 'yes' ? Readable.from(slowly(['kept ', 'first'])) : 'kept first');
      });
    });
    app = await listenFastify(fastify);
  });
  afterAll(async () => {
    await app.close();
    await set.close();
  });

  const withoutReplayed = (r: RawResponse) => representation(r).filter(([n]) => n !== 'Idempotent-Replayed');
  // A key is unique per client: each route gets its own (one key on two routes is 422).
  const keyOf = (name: string): string => `k${Object.keys(handlers).indexOf(name)}`;
  const call = (name: string) => postJson(`${app.url}${routeOf(name)}`, keyOf(name), {});

  for (const name of Object.keys(handlers)) {
    it(`replays ${name} byte for byte`, async () => {
      const first = await call(name);
      const replay = await call(name);
      expect(headerOf(first, 'idempotent-replayed')).toBeUndefined();
      expect(headerOf(replay, 'idempotent-replayed')).toBe('true');
      expect(replay.status).toBe(first.status);
      expect(withoutReplayed(replay)).toEqual(representation(first));
      expect(replay.body.equals(first.body)).toBe(true);
      expect(runs.get(name)).toBe(1);
    });
  }

  it('sends a reply only once its response is kept: a retry right after it is the replay, never a 409', async () => {
    for (const stream of ['no', 'yes']) {
      const key = `k-slow-to-keep-${stream}`;
      const url = `${app.url}/slow-to-keep`;
      const first = await postJson(url, key, {}, { headers: { 'x-stream': stream } });
      const retry = await postJson(url, key, {}, { headers: { 'x-stream': stream } });
      expect([first.status, retry.status, headerOf(retry, 'idempotent-replayed'), retry.body.toString()]).toEqual([
        201,
        201,
        'true',
        'kept first',
      ]);
    }
    expect(runs.get('slow-to-keep')).toBe(2);
  });

  it('keeps every line of the answers above (a check of the check)', async () => {
    const lines = async (name: string) => withoutReplayed(await call(name));
    expect(await lines('reply.raw.setHeader with capitals beside reply.header')).toEqual([
      ['X-Raw-Case', 'kept'],
      ['Cache-Control', 'no-store'],
      ['x-lower', 'l'],
      ['content-type', 'text/plain; charset=utf-8'],
    ]);
    expect(await lines('a header with several lines')).toEqual([
      ['X-Pair', 'one'],
      ['X-Pair', 'two'],
      ['link', '</a>; rel="a"'],
      ['link', '</b>; rel="b"'],
      ['content-type', 'text/plain; charset=utf-8'],
    ]);
    expect(await lines('a Node stream without Content-Type')).toEqual([]);
    expect(await lines('a fetch Response')).toEqual([
      ['content-type', 'text/plain'],
      ['x-from', 'response'],
    ]);
    expect(await lines('headers named constructor, __proto__, toString')).toEqual([
      ['__proto__', 'p'],
      ['constructor', 'c'],
      ['tostring', 't'],
      ['hasownproperty', 'h1'],
      ['hasownproperty', 'h2'],
      ['content-type', 'application/json; charset=utf-8'],
    ]);
    const bytes = await call('a binary Buffer');
    expect([bytes.status, bytes.body.equals(ALL_BYTES)]).toEqual([200, true]);
    const utf8 = await call('a string with a charset');
    expect(utf8.body.toString('utf8')).toBe('Zoë 🚀');
    const empty = await call('204 without a body');
    expect([empty.status, empty.body.byteLength, headerOf(empty, 'x-empty')]).toEqual([204, 0, 'yes']);
    const refused = await call('an error the error handler answers 400');
    expect([refused.status, JSON.parse(refused.body.toString()).message]).toEqual([400, 'no such product']);
  });
});
