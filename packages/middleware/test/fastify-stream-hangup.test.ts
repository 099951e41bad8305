// A client that hangs up before a streamed reply's first byte: Fastify sees the plugin's
// pass-through destroyed and answers 500 into the closed connection. That 500 used to take the
// stream's place (not kept: the key was freed, and the retry ran the handler again). The
// stream is still recorded, as for a hang-up mid-stream: 409 meanwhile, then the replay.
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency } from '../src/fastify.js';
import { listenFastify, untilNot409 } from './fastify-app.js';
import { headerOf, postJson } from './http.js';

await describeStoreBackends((backend) => {
  let set: StoreSet;
  let app: FastifyInstance;
  let url: string;
  const runs = new Map<string, number>();
  const ended = new Map<string, () => void>();
  const started = new Map<string, () => void>();
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
    app = Fastify({ logger: false });
    await app.register(idempotency, { store: set.idempotency(), timeoutMs: 5000 });
    app.post('/export', async (request, reply) => {
      const key = String(request.headers['idempotency-key']);
      runs.set(key, (runs.get(key) ?? 0) + 1);
      started.get(key)?.();
      // e.g. a query or an upstream whose first row comes after 200 ms
      const rows = Readable.from(
        (async function* () {
          await sleep(200);
          yield 'row 1\n';
        })(),
      );
      rows.on('end', () => ended.get(key)?.());
      return reply.code(201).type('text/plain').send(rows);
    });
    url = (await listenFastify(app)).url;
  });
  afterAll(async () => {
    await app.close();
    await set?.close();
  });

  it('a hang-up before the first byte keeps the key: the retry gets 409, then the stream, one run', async () => {
    const key = freshNamespace();
    const done = new Promise<void>((r) => ended.set(key, r));
    const begun = new Promise<void>((r) => started.set(key, r));
    // Hang up once the handler has begun (its first row comes 200 ms later), not at a set time.
    const client = request(`${url}/export`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'idempotency-key': key },
      agent: false,
    });
    client.on('error', () => undefined);
    client.end('{}');
    await begun;
    client.destroy();
    const { answer, conflicts } = await untilNot409(() => postJson(`${url}/export`, key, {}));
    await done;
    const retry = { status: answer.status, body: answer.body.toString(), replayed: headerOf(answer, 'idempotent-replayed') };
    expect([conflicts.length > 0, retry, runs.get(key)]).toEqual([true, { status: 201, body: 'row 1\n', replayed: 'true' }, 1]);
  });
});
