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
import type { CsrfTokenStore, IdempotencyStore, JwksCacheStore, LockStore, RateLimitStore, SessionStore, StreamStore } from '@stowage/core';
import { describeBackends, imagesForAppSuites, postgresBackends, redisBackends } from '@stowage/conformance/backends';
import * as memory from '@stowage/stores-memory';
import * as postgres from '@stowage/stores-postgres';
import * as redis from '@stowage/stores-redis';
import * as sqlite from '@stowage/stores-sqlite';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { describe } from 'vitest';
import { pausePostgres, pauseRedis, pauseSqlite, type Pause } from './pause.js';

export type { Pause } from './pause.js';
export { whilePaused } from './pause.js';
export { asJsonHeader, UNKEYABLE_REQUEST_DATA } from './request-data.js';

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
  /**
   * Makes the backend stop answering this set's calls for `ms` (see `pause.ts` for how, per
   * backend); resolves once the pause is in effect. Memory has no backend to pause: it throws.
   */
  pause(ms: number): Promise<Pause>;
  /** Closes the stores made, drops the namespace, ends the connection. */
  close(): Promise<void>;
}

export interface StoreBackend {
  kind: BackendName;
  name: string;
  /** Where the namespace's data is, for a replica in another process; `undefined` for memory. */
  spec(namespace: string): BackendSpec | undefined;
  /**
   * A new connection to the backend. Sets opened with the same `namespace` see the same data
   * (two replicas); a new namespace is a clean slate.
   */
  open(namespace: string): Promise<StoreSet>;
}

const random = (): string => Math.random().toString(36).slice(2, 10);

/** A fresh namespace: letters, digits and `_` (usable as a schema or key prefix). */
export const freshNamespace = (): string => `t_${random()}`;

type Makers = { [K in Exclude<keyof StoreSet, 'close' | 'pause'>]: () => ReturnType<StoreSet[K]> };

const noPause = (): Promise<Pause> => Promise.reject(new Error('memory has no backend to pause'));

/** `end` ends the connection; `drop` (before it) removes the namespace's data. */
function storeSet(
  make: Makers,
  end: () => Promise<void>,
  drop?: () => Promise<void>,
  pause: (ms: number) => Promise<Pause> = noPause,
): StoreSet {
  const made: Array<{ close(): Promise<void> }> = [];
  const track = <T extends { close(): Promise<void> }>(s: T): T => {
    made.push(s);
    return s;
  };
  return {
    sessions: () => track(make.sessions()),
    rateLimits: () => track(make.rateLimits()),
    idempotency: () => track(make.idempotency()),
    csrf: () => track(make.csrf()),
    locks: () => track(make.locks()),
    jwks: () => track(make.jwks()),
    streams: () => track(make.streams()),
    pause,
    close: async () => {
      for (const s of made) await s.close();
      try {
        await drop?.();
      } finally {
        await end();
      }
    },
  };
}

/**
 * Where a backend is, as plain data: what a replica in another process needs to open the
 * same stores (`openStoreSet`). Memory has none (its stores live in one process).
 */
export type BackendSpec = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string } | { kind: 'redis'; url: string };

/**
 * The seven stores on `spec`, in `namespace` (a PostgreSQL schema, a Redis key prefix; a
 * SQLite file is its own namespace). Sets opened with the same spec and namespace, in this
 * process or another, see the same data.
 */
export function openStoreSet(spec: BackendSpec, namespace: string): StoreSet {
  if (spec.kind === 'sqlite') {
    const database = new Database(spec.file);
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
      undefined,
      (ms) => pauseSqlite(spec.file, ms),
    );
  }
  if (spec.kind === 'postgres') {
    const pool = new pg.Pool({ connectionString: spec.url, max: 10 });
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
      () => pool.end(),
      async () => void (await pool.query(`DROP SCHEMA IF EXISTS "${namespace}" CASCADE`)),
      (ms) => pausePostgres(pool, namespace, ms),
    );
  }
  const client = new Redis(spec.url, { maxRetriesPerRequest: 2 });
  client.on('error', () => {}); // a paused or stopped server in a fault test; calls report it
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
    async () => void client.disconnect(),
    async () => {
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${namespace}:*`, 'COUNT', 1000);
        if (keys.length > 0) await client.unlink(...keys);
        cursor = next;
      } while (cursor !== '0');
    },
    (ms) => pauseRedis(client, ms),
  );
}

const memoryBackend: StoreBackend = {
  kind: 'memory',
  name: 'memory',
  spec: () => undefined,
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
  const spec = (namespace: string): BackendSpec => ({ kind: 'sqlite', file: join(dir, `${namespace}.db`) });
  return { kind: 'sqlite', name: 'sqlite file', spec, open: async (namespace) => openStoreSet(spec(namespace), namespace) };
}

function postgresBackend(name: string, url: string): StoreBackend {
  const spec = (): BackendSpec => ({ kind: 'postgres', url });
  return { kind: 'postgres', name: `postgres ${name}`, spec, open: async (namespace) => openStoreSet(spec(), namespace) };
}

function redisBackend(name: string, url: string): StoreBackend {
  const spec = (): BackendSpec => ({ kind: 'redis', url });
  return { kind: 'redis', name: `redis ${name}`, spec, open: async (namespace) => openStoreSet(spec(), namespace) };
}

/**
 * One `describe` per backend (memory, SQLite, PostgreSQL, Redis; for the last two the first
 * requested image, or every one with `STOWAGE_EVERY_IMAGE=1`: see `imagesForAppSuites`),
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
    describeBackends(await postgresBackends(imagesForAppSuites('postgres')), (t) => body(postgresBackend(t.name, t.url)));
  }
  if (kinds.includes('redis')) {
    describeBackends(await redisBackends(imagesForAppSuites('redis')), (t) => body(redisBackend(t.name, t.url)));
  }
}
export { Gates } from './gates.js';
export { nextWindow, openRateLimitReplicas, type RateLimitReplicas, roomInWindow } from './rate-limit-replicas.js';
export { Browser } from './browser.js';
export { isTimeoutOrUnavailable, warmUpWithRetries } from './warm-up.js';
