import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeBackends, imagesForAppSuites, postgresBackends, redisBackends } from '@stowage/conformance/backends';
import { MemorySessionStore, MemoryStreamStore } from '@stowage/stores-memory';
import { PostgresSessionStore, PostgresStreamStore } from '@stowage/stores-postgres';
import { RedisSessionStore, RedisStreamStore } from '@stowage/stores-redis';
import { SqliteSessionStore, SqliteStreamStore } from '@stowage/stores-sqlite';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe } from 'vitest';
import { createStreamsServer, type StreamsServer, type StreamsServerOptions } from '../src/index.js';
import { randomSuffix, type OpenedTestStore } from './helpers.js';

/** A memory store. */
export async function openMemoryStore(): Promise<OpenedTestStore> {
  const store = new MemoryStreamStore();
  const sessions = new MemorySessionStore();
  return {
    store,
    sessions,
    close: async () => {
      await store.close();
      await sessions.close();
    },
  };
}

/** A SQLite store on a WAL file of its own, removed on close. */
export async function openSqliteFileStore(): Promise<OpenedTestStore> {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-ds-'));
  const database = new Database(join(dir, 'streams.db'));
  const store = new SqliteStreamStore({ database });
  const sessions = new SqliteSessionStore({ database });
  return {
    store,
    sessions,
    close: async () => {
      await store.close();
      await sessions.close();
      database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A PostgreSQL store in a schema of its own, dropped on close. */
export async function openPostgresStore(url: string, poolMax = 10): Promise<OpenedTestStore> {
  const pool = new pg.Pool({ connectionString: url, max: poolMax });
  pool.on('error', () => {});
  const schema = `ds_${randomSuffix()}`;
  const store = new PostgresStreamStore({ pool, schema });
  const sessions = new PostgresSessionStore({ pool, schema });
  return {
    store,
    sessions,
    close: async () => {
      await store.close();
      await sessions.close();
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

/** A Redis store under a key prefix of its own; local servers outlive the run, so its keys go on close. */
export async function openRedisStore(url: string): Promise<OpenedTestStore> {
  const client = new Redis(url);
  const prefix = `ds:${randomSuffix()}:`;
  const store = new RedisStreamStore({ client, prefix });
  const sessions = new RedisSessionStore({ client, prefix });
  return {
    store,
    sessions,
    close: async () => {
      await store.close();
      await sessions.close();
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
        if (keys.length > 0) await client.unlink(...keys);
        cursor = next;
      } while (cursor !== '0');
      client.disconnect();
    },
  };
}

/**
 * One `describe` per backend: memory, a SQLite WAL file, and each PostgreSQL and Redis
 * backend (`DATABASE_URL` / `REDIS_URL`, or containers). `open` makes a fresh store (its own
 * schema / key prefix / file); `close` drops what it wrote.
 */
export async function describeEveryStore(body: (open: () => Promise<OpenedTestStore>) => void): Promise<void> {
  describe('MemoryStreamStore', () => body(openMemoryStore));
  describe('SqliteStreamStore (a WAL file)', () => body(openSqliteFileStore));
  describeBackends(await postgresBackends(imagesForAppSuites('postgres')), (backend) =>
    describe('PostgresStreamStore', () => body(() => openPostgresStore(backend.url))),
  );
  describeBackends(await redisBackends(imagesForAppSuites('redis')), (backend) =>
    describe('RedisStreamStore', () => body(() => openRedisStore(backend.url))),
  );
}

/**
 * `describeEveryStore`, with a server on each store for the block's tests: `served.base` is its
 * URL once started; server and store are closed after the block.
 */
export async function describeEveryServer(
  options: Omit<StreamsServerOptions, 'store'>,
  body: (served: { readonly base: string }) => void,
): Promise<void> {
  await describeEveryStore((open) => {
    const served = { base: '' };
    let opened: OpenedTestStore;
    let server: StreamsServer;
    beforeAll(async () => {
      opened = await open();
      server = createStreamsServer({ ...options, store: opened.store });
      served.base = await server.listen(0);
    }, 60_000);
    afterAll(async () => {
      await server.close();
      await opened.close();
    });
    body(served);
  });
}
