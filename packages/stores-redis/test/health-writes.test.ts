import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSessionStore, RedisStreamStore, redisHealth } from '../src/index.js';
import { connect, DRIVERS } from './clients.js';
import { type LocalCluster, startServer } from './helpers.js';

// health() answers whether Redis would take a write now: a PING passes `CLIENT PAUSE ...
// WRITE`, a read-only replica and a full memory, the stores' scripts do not. On a
// redis-server of our own (a random port: files run in parallel): the test pauses it, makes
// it a replica, fills it.

let PORT = 0;

describe('health() checks writes (a redis-server of our own)', () => {
  let server: LocalCluster;
  let admin: Redis;
  beforeAll(async () => {
    server = await startServer();
    PORT = server.ports[0]!;
    admin = new Redis({ host: '127.0.0.1', port: PORT });
  });
  afterAll(async () => {
    admin?.disconnect();
    server?.stop();
  });

  for (const driver of DRIVERS) {
    it(`${driver}: not ok under CLIENT PAUSE WRITE while a PING answers, ok after; no key is left`, async () => {
      const client = connect(driver, PORT);
      await client.connected;
      const store = new RedisStreamStore({ client: client.client, prefix: `hw:${driver}:` });
      try {
        expect(await store.health()).toEqual({ ok: true, latencyMs: expect.any(Number) });
        // Long enough to outlast the probes; lifted by UNPAUSE below.
        await admin.call('CLIENT', 'PAUSE', '30000', 'WRITE');
        expect(await redisHealth(client.client, 5000)).toEqual({ ok: true, latencyMs: expect.any(Number) });
        expect(await store.health({ timeoutMs: 300 })).toEqual({
          ok: false,
          latencyMs: expect.any(Number),
          error: 'no answer within 300 ms',
        });
        await admin.call('CLIENT', 'UNPAUSE');
        expect(await store.health({ timeoutMs: 5000 })).toEqual({ ok: true, latencyMs: expect.any(Number) });
        expect(await admin.keys('hw:*')).toEqual([]);
      } finally {
        await admin.call('CLIENT', 'UNPAUSE');
        await store.close();
        client.close();
      }
    });
  }

  it('not ok on a read-only replica and past maxmemory, with the reason; ok again after', async () => {
    const client = connect('ioredis', PORT);
    await client.connected;
    const store = new RedisSessionStore({ client: client.client, prefix: 'hw:sessions:' });
    try {
      // A replica of a port nothing listens on: it never syncs, and refuses writes meanwhile.
      await admin.call('REPLICAOF', '127.0.0.1', '1');
      expect(await store.health({ timeoutMs: 5000 })).toEqual({
        ok: false,
        latencyMs: expect.any(Number),
        error: expect.stringMatching(/^READONLY/),
      });
      await admin.call('REPLICAOF', 'NO', 'ONE');
      expect(await store.health({ timeoutMs: 5000 })).toEqual({ ok: true, latencyMs: expect.any(Number) });
      await admin.call('CONFIG', 'SET', 'maxmemory', '1');
      expect(await store.health({ timeoutMs: 5000 })).toEqual({
        ok: false,
        latencyMs: expect.any(Number),
        error: expect.stringMatching(/^OOM/),
      });
      await admin.call('CONFIG', 'SET', 'maxmemory', '0');
      expect(await store.health({ timeoutMs: 5000 })).toEqual({ ok: true, latencyMs: expect.any(Number) });
      expect(await admin.dbsize()).toBe(0);
    } finally {
      await admin.call('REPLICAOF', 'NO', 'ONE');
      await admin.call('CONFIG', 'SET', 'maxmemory', '0');
      await store.close();
      client.close();
    }
  });
});
