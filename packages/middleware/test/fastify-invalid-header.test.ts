// A reply Fastify cannot write (a header value Node refuses: a file name outside Latin-1):
// the client gets 500 ERR_INVALID_CHAR. It used to be stored before Fastify wrote it, so every
// retry for retentionMs was that 500 "replayed". A 5xx is not kept: the retry runs again.
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency } from '../src/fastify.js';
import { listenFastify } from './fastify-app.js';
import { headerOf, postJson } from './http.js';

await describeStoreBackends((backend) => {
  let set: StoreSet;
  let app: FastifyInstance;
  let url: string;
  let runs = 0;
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
    app = Fastify({ logger: false });
    await app.register(idempotency, { store: set.idempotency() });
    app.post('/files', async (_request, reply) => {
      runs++;
      const name = '報告.pdf'; // a user's file name
      return reply.code(201).header('content-disposition', `attachment; filename="${name}"`).send({ created: runs });
    });
    url = (await listenFastify(app)).url;
  });
  afterAll(async () => {
    await app.close();
    await set?.close();
  });

  it('a reply that fails to be written is not kept: the retry runs again', async () => {
    const key = freshNamespace();
    const first = await postJson(`${url}/files`, key, {});
    const retry = await postJson(`${url}/files`, key, {});
    expect(first.status).toBe(500);
    expect([retry.status, headerOf(retry, 'idempotent-replayed'), runs]).toEqual([500, undefined, 2]);
  });
});
