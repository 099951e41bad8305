// A large streamed reply to a client that reads it late: when the handler's stream ends,
// Fastify's pipe is paused by backpressure, and the handler then throws. The hold waited for
// the pipe to resume, so the throw's error reply was taken as replacing the stream: the client
// got part of the body and a cut connection, while the whole stream was stored and replayed.
// A paused pipe is piped: the reply is held, the throw dropped, the client gets the stream.
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { MemoryIdempotencyStore } from '@stowage/stores-memory';
import { describeStoreBackends, freshNamespace } from '@stowage/test-stores';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency } from '../src/fastify.js';
import { listenFastify, slowComplete } from './fastify-app.js';
import { headerOf, postJson } from './http.js';

const SIZE = 16 * 1024 * 1024;

await describeStoreBackends(() => {
  let app: FastifyInstance;
  let url: string;
  const runs = new Map<string, number>();
  const thrown = new Map<string, () => void>();
  beforeAll(async () => {
    app = Fastify({ logger: false });
    const store = slowComplete(new MemoryIdempotencyStore({ maxResponseBytes: 2 * SIZE }), 50);
    await app.register(idempotency, { store, timeoutMs: 5000, maxResponseBytes: 2 * SIZE });
    app.post('/export', async (request, reply) => {
      const key = String(request.headers['idempotency-key']);
      runs.set(key, (runs.get(key) ?? 0) + 1);
      const rows = Readable.from([Buffer.alloc(SIZE, 'x')]);
      reply.code(201).type('text/plain').send(rows);
      await finished(rows);
      await sleep(10); // the store of the stream has begun
      setImmediate(() => thrown.get(key)?.());
      throw new Error('audit log failed');
    });
    url = (await listenFastify(app)).url;
  });
  afterAll(async () => app.close());

  it('a client that reads late gets the whole stream, and the retry its replay', { timeout: 30_000 }, async () => {
    const key = freshNamespace();
    const afterThrow = new Promise<void>((r) => thrown.set(key, r));
    const first = await new Promise<{ status: number; bytes: number; error?: string }>((resolve) => {
      const req = request(`${url}/export`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'idempotency-key': key },
        agent: false,
      });
      req.on('error', (e) => resolve({ status: 0, bytes: 0, error: e.message }));
      req.on('response', (res) => {
        res.pause(); // reads nothing until the handler has thrown
        let bytes = 0;
        void afterThrow.then(() => {
          res.on('data', (c: Buffer) => void (bytes += c.length));
          res.resume();
        });
        res.on('end', () => resolve({ status: res.statusCode!, bytes }));
        res.on('error', (e) => resolve({ status: res.statusCode!, bytes, error: e.message }));
      });
      req.end('{}');
    });
    await sleep(200);
    const r = await postJson(`${url}/export`, key, {});
    const retry = { status: r.status, bytes: r.body.length, replayed: headerOf(r, 'idempotent-replayed') };
    expect({ first, retry, runs: runs.get(key) }).toEqual({
      first: { status: 201, bytes: SIZE },
      retry: { status: 201, bytes: SIZE, replayed: 'true' },
      runs: 1,
    });
  });
}, ['memory']);
