import { newNamespace, type ErrorLike } from '@stowage/conformance';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorSource } from '@stowage/core/adapter-kit';
import type { Connection } from '../src/connection.js';
import { mapError } from '../src/errors.js';
import { RedisRateLimitStore, RedisSessionStore } from '../src/index.js';
import { connect, DRIVERS } from './clients.js';
import { type LocalCluster, startServer } from './helpers.js';

// A Redis that is up but will not serve (a failover made it a replica, its memory is full, a
// script holds it): the calls are UNAVAILABLE, as with a server that is down, so that the
// middleware answers 503 with Retry-After (or fails open) and not 500. On a redis-server of
// our own: the test makes it a replica, fills it, and blocks it with a script.

const policy = { algorithm: 'fixed-window', limit: 10, windowMs: 3_600_000 } as const;
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'OK',
    (err: ErrorLike) => `${err.code}: ${err.message}`,
  );

describe('a Redis that refuses to serve: calls are UNAVAILABLE (a redis-server of our own)', () => {
  let server: LocalCluster;
  let admin: Redis;
  beforeAll(async () => {
    server = await startServer();
    admin = new Redis({ host: '127.0.0.1', port: server.ports[0]! });
  });
  afterAll(async () => {
    admin?.disconnect();
    server?.stop();
  });

  for (const driver of DRIVERS) {
    it(`${driver}: a read-only replica, a full memory, a script that holds the server`, async () => {
      const client = connect(driver, server.ports[0]!);
      await client.connected;
      const prefix = newNamespace();
      const limits = new RedisRateLimitStore({ client: client.client, prefix, timeoutMs: 5000 });
      const sessions = new RedisSessionStore({ client: client.client, prefix, timeoutMs: 5000 });
      const calls = () => [limits.consume('k', policy), sessions.set('s', Buffer.from('x'), { ttlMs: 60_000 })];
      await Promise.all(calls()); // scripts loaded
      try {
        // A replica of a port nothing listens on: it never syncs, and refuses writes meanwhile.
        await admin.call('REPLICAOF', '127.0.0.1', '1');
        for (const got of await Promise.all(calls().map(codeOf))) expect(got).toMatch(/^UNAVAILABLE: .*READONLY/);
        await admin.call('REPLICAOF', 'NO', 'ONE');

        await admin.call('CONFIG', 'SET', 'maxmemory', '1');
        for (const got of await Promise.all(calls().map(codeOf))) expect(got).toMatch(/^UNAVAILABLE: .*OOM/);
        await admin.call('CONFIG', 'SET', 'maxmemory', '0');

        // Another client's script that runs past busy-reply-threshold: Redis answers BUSY to the rest.
        await admin.call('CONFIG', 'SET', 'busy-reply-threshold', '100');
        const blocker = new Redis({ host: '127.0.0.1', port: server.ports[0]! });
        const held = blocker.eval('local t = redis.call("TIME") while true do end', 0).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 300));
        for (const got of await Promise.all(calls().map(codeOf))) expect(got).toMatch(/^UNAVAILABLE: .*BUSY/);
        await admin.call('SCRIPT', 'KILL');
        await held;
        blocker.disconnect();

        // Serving again: nothing of the refused calls took effect.
        expect((await limits.consume('k', policy)).remaining).toBe(8);
        expect((await sessions.get('s'))?.version).toBe(1);
      } finally {
        await admin.call('REPLICAOF', 'NO', 'ONE');
        await admin.call('CONFIG', 'SET', 'maxmemory', '0');
        await admin.call('CONFIG', 'SET', 'busy-reply-threshold', '5000');
        await limits.close();
        await sessions.close();
        client.close();
      }
    });
  }
});

describe('the refusal codes are read at the start of the reply only', () => {
  it('an echoed argument that spells one (a key `{BUSY}` in an unknown-command reply) is no refusal', () => {
    const source = new ErrorSource('@stowage/stores-redis', 'test');
    const ready = { state: () => 'ready' } as unknown as Connection;
    const echo = new Error("ERR unknown command 'X', with args beginning with: 's:{BUSY}' ");
    expect(mapError(source, echo, ready).code).toBe('INTERNAL');
    expect(mapError(source, new Error('BUSY Redis is busy running a script.'), ready).code).toBe('UNAVAILABLE');
  });
});
