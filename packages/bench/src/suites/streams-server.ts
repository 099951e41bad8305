#!/usr/bin/env node
/**
 * One Durable Streams server for the bench, in a process of its own (so the server and the
 * load generator do not share a core): `node streams-server.js <kind> <dir> [webhooks]`.
 * Prints `URL <base url>` once it listens; exits on SIGTERM.
 *
 * Kinds: reference-memory, reference-file (`@durable-streams/server`, LMDB + log files),
 * stowage-memory, stowage-sqlite, stowage-postgres (DATABASE_URL), stowage-redis (REDIS_URL).
 *
 * `webhooks`: subscriptions with webhooks on. The reference serves streams and the reserved
 * `__ds/` APIs under `/v1/stream/` only, so ours then gets that base path too; ours keeps its
 * subscriptions in a SessionStore of the same backend (same file, schema or key prefix) and
 * may POST to receivers on 127.0.0.1.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { SessionStore, StreamStore } from '@stowage/core';

const [kind = '', dir = '.', mode = ''] = process.argv.slice(2);
const webhooks = mode === 'webhooks';
const rand = Math.random().toString(36).slice(2, 8);
const cleanups: Array<() => Promise<unknown> | unknown> = [];
// BENCH_LONG_POLL_MS: how long a long-poll waits (fan-out raises it: 10,000 readers take a while to connect on a loaded machine).
const LONG_POLL_MS = Number(process.env.BENCH_LONG_POLL_MS ?? 30_000);

interface Stores {
  store: StreamStore;
  sessions: SessionStore;
}

async function stowageStores(): Promise<Stores> {
  switch (kind) {
    case 'stowage-memory': {
      const { MemorySessionStore, MemoryStreamStore } = await import('@stowage/stores-memory');
      return { store: new MemoryStreamStore(), sessions: new MemorySessionStore() };
    }
    case 'stowage-sqlite': {
      const { SqliteSessionStore, SqliteStreamStore } = await import('@stowage/stores-sqlite');
      const { default: Database } = await import('better-sqlite3');
      const database = new Database(join(dir, 'streams.db'));
      return { store: new SqliteStreamStore({ database }), sessions: new SqliteSessionStore({ database }) };
    }
    case 'stowage-postgres': {
      const { PostgresSessionStore, PostgresStreamStore } = await import('@stowage/stores-postgres');
      const { default: pg } = await import('pg');
      const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', max: 32 });
      pool.on('error', () => {});
      const schema = `bench_streams_${rand}`;
      cleanups.push(async () => {
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await pool.end();
      });
      return { store: new PostgresStreamStore({ pool, schema }), sessions: new PostgresSessionStore({ pool, schema }) };
    }
    case 'stowage-redis': {
      const { RedisSessionStore, RedisStreamStore } = await import('@stowage/stores-redis');
      const { Redis } = await import('ioredis');
      const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
      const prefix = `bench:streams:${rand}:`;
      cleanups.push(async () => {
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          if (keys.length > 0) await client.unlink(...keys);
          cursor = next;
        } while (cursor !== '0');
        client.disconnect();
      });
      return { store: new RedisStreamStore({ client, prefix }), sessions: new RedisSessionStore({ client, prefix }) };
    }
    default:
      throw new Error(`unknown server kind ${kind}`);
  }
}

async function main(): Promise<void> {
  let url: string;
  if (kind.startsWith('reference-')) {
    const { DurableStreamTestServer } = await import('@durable-streams/server');
    const server = new DurableStreamTestServer({
      port: 0,
      longPollTimeout: LONG_POLL_MS,
      compression: false,
      webhooks,
      ...(kind === 'reference-file' ? { dataDir: join(dir, 'reference') } : {}),
    });
    url = await server.start();
    cleanups.push(() => server.stop());
  } else {
    const { createStreamsServer } = await import('@stowage/durable-streams-server');
    const { createSubscriptionStore } = await import('@stowage/core');
    const { store, sessions } = await stowageStores();
    const server = createStreamsServer({
      store,
      longPollTimeoutMs: LONG_POLL_MS,
      sseMaxDurationMs: Math.max(60_000, LONG_POLL_MS),
      // Failed webhook deliveries show; error answers the bench provokes (404 after a delete) do not.
      log: (line: string) => {
        if (line.includes('subscriptions:')) process.stderr.write(`${line}\n`);
      },
      ...(webhooks
        ? {
            basePath: '/v1/stream/',
            subscriptions: {
              store: createSubscriptionStore({ sessions }),
              webhooks: true,
              signingKeys: [{ id: 'bench', key: randomBytes(32) }],
              allowWebhookHosts: ['127.0.0.1'],
            },
          }
        : {}),
    });
    url = await server.listen(0);
    cleanups.unshift(async () => {
      await server.close(100);
      await store.close();
      await sessions.close();
    });
  }
  process.stdout.write(`URL ${url}\n`);
}

// The bench asks for this process's memory and CPU time over IPC (fan-out: memory per waiting reader).
process.on('message', (m) => {
  if (m !== 'usage' && m !== 'usage after gc') return;
  if (m === 'usage after gc') (globalThis as { gc?: () => void }).gc?.();
  const { rss, heapUsed, external } = process.memoryUsage();
  const { user, system } = process.cpuUsage();
  process.send?.({ rss, heapUsed, external, cpuMs: (user + system) / 1000 });
});
// The IPC channel must not keep the process alive on its own, nor its loss kill it.
process.channel?.unref();

process.on('SIGTERM', () => {
  void (async () => {
    for (const c of cleanups) await Promise.resolve(c()).catch(() => {});
    process.exit(0);
  })();
});

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
