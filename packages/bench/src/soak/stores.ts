import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CsrfTokenStore, IdempotencyStore, JwksCacheStore, LockStore, RateLimitStore, SessionStore, StreamStore } from '@stowage/core';
import type { Backend } from '../scale/targets.js';
import { unlinkPrefix } from '../scale/targets.js';

/** Every contract's store on one backend. */
export interface SoakStores {
  sessions: SessionStore;
  rateLimit: RateLimitStore;
  idempotency: IdempotencyStore;
  csrf: CsrfTokenStore;
  locks: LockStore;
  jwks: JwksCacheStore;
  streams: StreamStore;
}

/** What the backend holds and how many connections this run has open to it. */
export interface BackendProbe {
  /** Connections of this run (PostgreSQL: pg_stat_activity by application_name; Redis: CLIENT LIST by name). */
  connections: number | null;
  /** Bytes: SQLite file and WAL, the PostgreSQL schema's tables and indexes, Redis used_memory (the whole server). */
  bytes: number | null;
  /** Records: live rows of the schema / file, keys under the Redis prefix. */
  records: number | null;
}

export interface SoakBackend {
  stores: SoakStores;
  probe(): Promise<BackendProbe>;
  /**
   * PostgreSQL with autovacuum off on the server (`SHOW autovacuum`): VACUUMs the run's
   * tables, standing in for the autovacuum a production server runs. Undefined otherwise.
   */
  maintain?(): Promise<void>;
  close(): Promise<void>;
}

const closeAll = async (s: SoakStores) => {
  for (const store of Object.values(s)) await store.close();
};

async function memory(): Promise<SoakBackend> {
  const m = await import('@stowage/stores-memory');
  const stores: SoakStores = {
    sessions: new m.MemorySessionStore(),
    rateLimit: new m.MemoryRateLimitStore(),
    idempotency: new m.MemoryIdempotencyStore(),
    csrf: new m.MemoryCsrfTokenStore(),
    locks: new m.MemoryLockStore(),
    jwks: new m.MemoryJwksCacheStore(),
    streams: new m.MemoryStreamStore(),
  };
  return { stores, probe: async () => ({ connections: null, bytes: null, records: null }), close: () => closeAll(stores) };
}

async function sqlite(pragmas: string[] = []): Promise<SoakBackend> {
  const s = await import('@stowage/stores-sqlite');
  const { default: Database } = await import('better-sqlite3');
  const dir = mkdtempSync(join(tmpdir(), 'stowage-soak-'));
  const file = join(dir, 'soak.db');
  const database = new Database(file);
  for (const p of pragmas) database.pragma(p);
  const o = { database };
  const stores: SoakStores = {
    sessions: new s.SqliteSessionStore(o),
    rateLimit: new s.SqliteRateLimitStore(o),
    idempotency: new s.SqliteIdempotencyStore(o),
    csrf: new s.SqliteCsrfTokenStore(o),
    locks: new s.SqliteLockStore(o),
    jwks: new s.SqliteJwksCacheStore(o),
    streams: new s.SqliteStreamStore(o),
  };
  const size = (f: string) => statSync(f, { throwIfNoEntry: false })?.size ?? 0;
  return {
    stores,
    async probe() {
      const tables = database.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'stowage_%'`).all() as {
        name: string;
      }[];
      let records = 0;
      for (const { name } of tables) records += (database.prepare(`SELECT count(*) AS n FROM ${name}`).get() as { n: number }).n;
      return { connections: null, bytes: size(file) + size(`${file}-wal`), records };
    },
    async close() {
      await closeAll(stores);
      database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgres(): Promise<SoakBackend> {
  const p = await import('@stowage/stores-postgres');
  const { default: pg } = await import('pg');
  const name = `soak_${randomBytes(4).toString('hex')}`;
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const pool = new pg.Pool({ connectionString: url, max: 16, application_name: name });
  pool.on('error', () => {});
  // The probe's own connection is not counted (another application_name).
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  const o = { pool, schema: name };
  const stores: SoakStores = {
    sessions: new p.PostgresSessionStore(o),
    rateLimit: new p.PostgresRateLimitStore(o),
    idempotency: new p.PostgresIdempotencyStore(o),
    csrf: new p.PostgresCsrfTokenStore(o),
    locks: new p.PostgresLockStore(o),
    jwks: new p.PostgresJwksCacheStore(o),
    streams: new p.PostgresStreamStore(o),
  };
  const autovacuum = (await admin.query<{ autovacuum: string }>('SHOW autovacuum')).rows[0]!.autovacuum === 'on';
  const maintain = async () => {
    const r = await admin.query<{ t: string }>(`SELECT tablename AS t FROM pg_tables WHERE schemaname = $1`, [name]);
    for (const { t } of r.rows) await admin.query(`VACUUM "${name}"."${t}"`);
  };
  return {
    stores,
    ...(autovacuum ? {} : { maintain }),
    async probe() {
      const r = await admin.query<{ connections: string; bytes: string; records: string }>(
        `SELECT (SELECT count(*) FROM pg_stat_activity WHERE application_name = $1) AS connections,
           (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c JOIN pg_namespace s ON s.oid = c.relnamespace
             WHERE s.nspname = $1 AND c.relkind = 'r') AS bytes,
           (SELECT coalesce(sum(n_live_tup), 0) FROM pg_stat_user_tables WHERE schemaname = $1) AS records`,
        [name],
      );
      const row = r.rows[0]!;
      return { connections: Number(row.connections), bytes: Number(row.bytes), records: Number(row.records) };
    },
    async close() {
      await closeAll(stores);
      await pool.end();
      await admin.query(`DROP SCHEMA IF EXISTS "${name}" CASCADE`);
      await admin.end();
    },
  };
}

async function redis(): Promise<SoakBackend> {
  const r = await import('@stowage/stores-redis');
  const { Redis } = await import('ioredis');
  const name = `soak-${randomBytes(4).toString('hex')}`;
  const prefix = `${name}:`;
  const url = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const client = new Redis(url, { connectionName: name });
  const admin = new Redis(url);
  const o = { client, prefix };
  const stores: SoakStores = {
    sessions: new r.RedisSessionStore(o),
    rateLimit: new r.RedisRateLimitStore(o),
    idempotency: new r.RedisIdempotencyStore(o),
    csrf: new r.RedisCsrfTokenStore(o),
    locks: new r.RedisLockStore(o),
    jwks: new r.RedisJwksCacheStore(o),
    streams: new r.RedisStreamStore(o),
  };
  return {
    stores,
    async probe() {
      const clients = (await admin.client('LIST')) as string;
      const connections = clients.split('\n').filter((l) => l.includes(` name=${name}`)).length;
      const bytes = Number(/used_memory:(\d+)/.exec(await admin.info('memory'))?.[1]);
      let records = 0;
      let cursor = '0';
      do {
        const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 5000);
        records += keys.length;
        cursor = next;
      } while (cursor !== '0');
      return { connections, bytes, records };
    },
    async close() {
      await closeAll(stores);
      await unlinkPrefix(admin, prefix);
      client.disconnect();
      admin.disconnect();
    },
  };
}

/** `sqlitePragmas`: set on the SQLite connection before the stores open it (`name=value`). */
export function soakBackend(backend: Backend, sqlitePragmas: string[] = []): Promise<SoakBackend> {
  return backend === 'sqlite' ? sqlite(sqlitePragmas) : { memory, postgres, redis }[backend]();
}
