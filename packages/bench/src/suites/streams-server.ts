#!/usr/bin/env node
/**
 * One Durable Streams server for the bench, in a process of its own (so the server and the
 * load generator do not share a core): `node streams-server.js <kind> <dir>`. Prints
 * `URL <base url>` once it listens; exits on SIGTERM.
 *
 * Kinds: reference-memory, reference-file (`@durable-streams/server`, LMDB + log files),
 * stowage-memory, stowage-sqlite, stowage-postgres (DATABASE_URL), stowage-redis (REDIS_URL).
 */
import { join } from 'node:path';
import type { StreamStore } from '@stowage/core';

const [kind = '', dir = '.'] = process.argv.slice(2);
const rand = Math.random().toString(36).slice(2, 8);
const cleanups: Array<() => Promise<unknown> | unknown> = [];

async function stowageStore(): Promise<StreamStore> {
  switch (kind) {
    case 'stowage-memory': {
      const { MemoryStreamStore } = await import('@stowage/stores-memory');
      return new MemoryStreamStore();
    }
    case 'stowage-sqlite': {
      const { SqliteStreamStore } = await import('@stowage/stores-sqlite');
      const { default: Database } = await import('better-sqlite3');
      return new SqliteStreamStore({ database: new Database(join(dir, 'streams.db')) });
    }
    case 'stowage-postgres': {
      const { PostgresStreamStore } = await import('@stowage/stores-postgres');
      const { default: pg } = await import('pg');
      const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', max: 32 });
      pool.on('error', () => {});
      const schema = `bench_streams_${rand}`;
      cleanups.push(async () => {
        await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
        await pool.end();
      });
      return new PostgresStreamStore({ pool, schema });
    }
    case 'stowage-redis': {
      const { RedisStreamStore } = await import('@stowage/stores-redis');
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
      return new RedisStreamStore({ client, prefix });
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
      longPollTimeout: 30_000,
      compression: false,
      ...(kind === 'reference-file' ? { dataDir: join(dir, 'reference') } : {}),
    });
    url = await server.start();
    cleanups.push(() => server.stop());
  } else {
    const { createStreamsServer } = await import('@stowage/durable-streams-server');
    const store = await stowageStore();
    const server = createStreamsServer({ store, longPollTimeoutMs: 30_000, log: false });
    url = await server.listen(0);
    cleanups.unshift(async () => {
      await server.close(100);
      await store.close();
    });
  }
  process.stdout.write(`URL ${url}\n`);
}

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
