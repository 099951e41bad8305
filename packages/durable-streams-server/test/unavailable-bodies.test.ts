import { redisBackends } from '@stowage/conformance/backends';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { RedisStreamStore } from '@stowage/stores-redis';
import { SqliteStreamStore } from '@stowage/stores-sqlite';
import type { StreamStore } from '@stowage/core';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { createStreamsServer } from '../src/index.js';
import { randomSuffix } from './helpers.js';

// A store that cannot be reached answers 503 UNAVAILABLE with `Retry-After`, and a message that
// fits the request: a read is told it cannot read now (never about writes), each write what
// makes its retry safe. No message names a class, a package, a host or a port (the log has them).

const EXPECTED: Array<[string, string, Record<string, string>, string | undefined, string]> = [
  ['GET', '', {}, undefined, 'the stream store is unavailable: the stream cannot be read now; retry later'],
  ['GET', '?offset=-1&live=long-poll', {}, undefined, 'the stream store is unavailable: the stream cannot be read now; retry later'],
  [
    'POST',
    '',
    { 'Content-Type': 'text/plain' },
    'x',
    'the stream store is unavailable: the append was not confirmed; retry later (Producer-Id, Producer-Epoch and Producer-Seq make a retry safe)',
  ],
  [
    'PUT',
    '',
    { 'Content-Type': 'text/plain' },
    undefined,
    'the stream store is unavailable: the stream was not confirmed created; retry later (the same PUT is safe to repeat)',
  ],
  ['DELETE', '', {}, undefined, 'the stream store is unavailable: the stream was not confirmed deleted; retry later'],
];

/** A store made unreachable after its stream `s` was created: closed, or its client closed under it. */
const UNREACHABLE: Array<[string, () => Promise<{ store: StreamStore; cutOff: () => Promise<void>; end: () => Promise<void> }>]> = [
  [
    'a closed MemoryStreamStore',
    async () => {
      const store = new MemoryStreamStore();
      return { store, cutOff: () => store.close(), end: async () => {} };
    },
  ],
  [
    'a SqliteStreamStore whose database was closed',
    async () => {
      const database = new Database(':memory:');
      const store = new SqliteStreamStore({ database });
      return { store, cutOff: async () => database.close(), end: () => store.close() };
    },
  ],
];
for (const backend of (await redisBackends()).slice(0, 1)) {
  UNREACHABLE.push([
    'a RedisStreamStore whose client was closed',
    async () => {
      const client = new Redis(backend.url);
      const store = new RedisStreamStore({ client, prefix: `ds:${randomSuffix()}:` });
      return {
        store,
        cutOff: async () => {
          await store.delete('s');
          client.disconnect();
        },
        end: () => store.close(),
      };
    },
  ]);
}

describe.each(UNREACHABLE)('503 bodies on %s', (_label, make) => {
  it('every method: 503 UNAVAILABLE, Retry-After, a message for its operation; HEAD without a body', async () => {
    const { store, cutOff, end } = await make();
    const lines: Array<{ message: string }> = [];
    const server = createStreamsServer({ store, log: (line) => lines.push(line) });
    const base = await server.listen(0);
    try {
      expect((await fetch(`${base}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } })).status).toBe(201);
      await cutOff();
      for (const [method, query, headers, body, message] of EXPECTED) {
        const res = await fetch(`${base}/s${query}`, { method, headers, ...(body === undefined ? {} : { body }) });
        expect(res.status, `${method}${query}`).toBe(503);
        expect(res.headers.get('retry-after')).toBe('1');
        expect(await res.json()).toEqual({ error: { code: 'UNAVAILABLE', message } });
        if (method === 'GET') expect(message).not.toMatch(/write|append|stored/);
      }
      const head = await fetch(`${base}/s`, { method: 'HEAD' });
      expect(head.status).toBe(503);
      expect(await head.text()).toBe('');
      // The details went to the log, one line per request.
      expect(lines).toHaveLength(EXPECTED.length + 1);
    } finally {
      await server.close();
      await end();
    }
  });
});
