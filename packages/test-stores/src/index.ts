/**
 * Every store contract on every test backend, for the integration packages' tests: memory,
 * a SQLite file, and each PostgreSQL and Redis backend of `@stowage/conformance/backends`
 * (containers per image, or DATABASE_URL / REDIS_URL).
 *
 * @module
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type {
  CsrfTokenStore,
  IdempotencyStore,
  JwksCacheStore,
  LockStore,
  RateLimitStore,
  SessionStore,
  StreamStore,
} from '@stowage/core';
import { describeBackends, postgresBackends, redisBackends } from '@stowage/conformance/backends';
import * as memory from '@stowage/stores-memory';
import * as postgres from '@stowage/stores-postgres';
import * as redis from '@stowage/stores-redis';
import * as sqlite from '@stowage/stores-sqlite';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe } from 'vitest';

export type BackendName = 'memory' | 'sqlite' | 'postgres' | 'redis';

/** One connection and namespace; each method makes a store of that contract on it. */
export interface StoreSet {
  sessions(): SessionStore;
  rateLimits(): RateLimitStore;
  idempotency(): IdempotencyStore;
  csrf(): CsrfTokenStore;
  locks(): LockStore;
  jwks(): JwksCacheStore;
  streams(): StreamStore;
  /** Closes the stores made, drops the namespace, ends the connection. */
  close(): Promise<void>;
}

export interface StoreBackend {
  kind: BackendName;
  name: string;
  /**
   * A new connection to the backend. Sets opened with the same `namespace` see the same data
   * (two replicas); a new namespace is a clean slate.
   */
  open(namespace: string): Promise<StoreSet>;
}

const random = (): string => Math.random().toString(36).slice(2, 10);

/** A fresh namespace: letters, digits and `_` (usable as a schema or key prefix). */
export const freshNamespace = (): string => `t_${random()}`;

function storeSet(make: { [K in Exclude<keyof StoreSet, 'close'>]: () => ReturnType<StoreSet[K]> }, end: () => Promise<void>): StoreSet {
  const made: Array<{ close(): Promise<void> }> = [];
  const track = <T extends { close(): Promise<void> }>(s: T): T => (made.push(s), s);
  return {
    sessions: () => track(make.sessions()),
    rateLimits: () => track(make.rateLimits()),
    idempotency: () => track(make.idempotency()),
    csrf: () => track(make.csrf()),
    locks: () => track(make.locks()),
    jwks: () => track(make.jwks()),
    streams: () => track(make.streams()),
    close: async () => {
      for (const s of made) await s.close();
      await end();
    },
  };
}

const memoryBackend: StoreBackend = {
  kind: 'memory',
  name: 'memory',
  // Memory stores live in one process: every set is its own world, whatever the namespace.
  open: async () =>
    storeSet(
      {
        sessions: () => new memory.MemorySessionStore(),
        rateLimits: () => new memory.MemoryRateLimitStore(),
        idempotency: () => new memory.MemoryIdempotencyStore(),
        csrf: () => new memory.MemoryCsrfTokenStore(),
        locks: () => new memory.MemoryLockStore(),
        jwks: () => new memory.MemoryJwksCacheStore(),
        streams: () => new memory.MemoryStreamStore(),
      },
      async () => {},
    ),
};

function sqliteBackend(): StoreBackend {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-test-stores-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  return {
    kind: 'sqlite',
    name: 'sqlite file',
    open: async (namespace) => {
      const database = new Database(join(dir, `${namespace}.db`));
      const o = { database };
      return storeSet(
        {
          sessions: () => new sqlite.SqliteSessionStore(o),
          rateLimits: () => new sqlite.SqliteRateLimitStore(o),
          idempotency: () => new sqlite.SqliteIdempotencyStore(o),
          csrf: () => new sqlite.SqliteCsrfTokenStore(o),
          locks: () => new sqlite.SqliteLockStore(o),
          jwks: () => new sqlite.SqliteJwksCacheStore(o),
          streams: () => new sqlite.SqliteStreamStore(o),
        },
        async () => void database.close(),
      );
    },
  };
}

function postgresBackend(name: string, url: string): StoreBackend {
  return {
    kind: 'postgres',
    name: `postgres ${name}`,
    open: async (namespace) => {
      const pool = new pg.Pool({ connectionString: url, max: 10 });
      pool.on('error', () => {});
      const o = { pool, schema: namespace };
      return storeSet(
        {
          sessions: () => new postgres.PostgresSessionStore(o),
          rateLimits: () => new postgres.PostgresRateLimitStore(o),
          idempotency: () => new postgres.PostgresIdempotencyStore(o),
          csrf: () => new postgres.PostgresCsrfTokenStore(o),
          locks: () => new postgres.PostgresLockStore(o),
          jwks: () => new postgres.PostgresJwksCacheStore(o),
          streams: () => new postgres.PostgresStreamStore(o),
        },
        async () => {
          await pool.query(`DROP SCHEMA IF EXISTS "${namespace}" CASCADE`);
          await pool.end();
        },
      );
    },
  };
}

function redisBackend(name: string, url: string): StoreBackend {
  return {
    kind: 'redis',
    name: `redis ${name}`,
    open: async (namespace) => {
      const client = new Redis(url, { maxRetriesPerRequest: 2 });
      const o = { client, prefix: `${namespace}:` };
      return storeSet(
        {
          sessions: () => new redis.RedisSessionStore(o),
          rateLimits: () => new redis.RedisRateLimitStore(o),
          idempotency: () => new redis.RedisIdempotencyStore(o),
          csrf: () => new redis.RedisCsrfTokenStore(o),
          locks: () => new redis.RedisLockStore(o),
          jwks: () => new redis.RedisJwksCacheStore(o),
          streams: () => new redis.RedisStreamStore(o),
        },
        async () => {
          let cursor = '0';
          do {
            const [next, keys] = await client.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000);
            if (keys.length > 0) await client.unlink(...keys);
            cursor = next;
          } while (cursor !== '0');
          client.disconnect();
        },
      );
    },
  };
}

/**
 * One `describe` per backend (memory, SQLite, then every PostgreSQL and Redis backend),
 * containers stopped after their block. `kinds` limits which.
 */
export async function describeStoreBackends(
  body: (backend: StoreBackend) => void,
  kinds: readonly BackendName[] = ['memory', 'sqlite', 'postgres', 'redis'],
): Promise<void> {
  if (kinds.includes('memory')) describe(memoryBackend.name, () => body(memoryBackend));
  if (kinds.includes('sqlite')) {
    const b = sqliteBackend();
    describe(b.name, () => body(b));
  }
  if (kinds.includes('postgres')) {
    describeBackends(await postgresBackends(), (t) => body(postgresBackend(t.name, t.url)));
  }
  if (kinds.includes('redis')) {
    describeBackends(await redisBackends(), (t) => body(redisBackend(t.name, t.url)));
  }
}
