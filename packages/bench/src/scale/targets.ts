import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonCodec, type IdempotencyStore, type RateLimitPolicy, type RateLimitStore, type SessionStore } from '@stowage/core';
import { MemoryIdempotencyStore, MemoryRateLimitStore, MemorySessionStore } from '@stowage/stores-memory';
import { PostgresIdempotencyStore, PostgresRateLimitStore, PostgresSessionStore } from '@stowage/stores-postgres';
import { RedisIdempotencyStore, RedisRateLimitStore, RedisSessionStore } from '@stowage/stores-redis';
import { SqliteIdempotencyStore, SqliteRateLimitStore, SqliteSessionStore } from '@stowage/stores-sqlite';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import pg from 'pg';
import { responseBody, sessionObject } from '../suites/data.js';

export type Backend = 'memory' | 'sqlite' | 'postgres' | 'redis';
export const BACKENDS: readonly Backend[] = ['memory', 'sqlite', 'postgres', 'redis'];
export type Contract = 'rate-limit' | 'session' | 'idempotency';

export const DAY = 86_400_000;
/** A window of a day: every loaded rate-limit record stays live for the whole run. */
export const POLICY: RateLimitPolicy = { algorithm: 'fixed-window', limit: 1_000_000, windowMs: DAY };
export const SCOPE = 'scale';
export const SESSION = jsonCodec.encode(sessionObject(), 'scale');
const RESPONSE = {
  status: 201,
  headers: [['content-type', 'application/json']] as [string, string][],
  body: jsonCodec.encode(responseBody(), 'r'),
};
/** The record every bulk load copies, made through the store so the rows are in its own format. */
const TEMPLATE = 'tmpl';

/** The name of the i-th loaded key: the same on every backend. */
export const keyOf = (i: number): string => `k-${i}`;

/** The stores of one backend, and its bulk paths (not timed). */
export interface ScaleTarget {
  backend: Backend;
  rateLimit: RateLimitStore;
  sessions: SessionStore;
  idempotency: IdempotencyStore;
  /** Adds the live records `keyOf(from)` .. `keyOf(to - 1)` of a contract. */
  load(contract: Contract, from: number, to: number): Promise<void>;
  /** SQL backends: adds `count` sessions that expired two days ago, keys `x-<tag>-<i>`. */
  loadExpired?(count: number, tag: string): Promise<void>;
  /** SQLite: `prune()` runs in a worker thread (`pruneInWorker`). */
  pruneInWorker?: boolean;
  /** Bytes the backend holds for this run (file, schema or Redis memory), when it can say. */
  size(): Promise<number | undefined>;
  close(): Promise<void>;
}

async function templates(t: Pick<ScaleTarget, 'rateLimit' | 'sessions' | 'idempotency'>): Promise<void> {
  await t.rateLimit.consume(TEMPLATE, POLICY);
  await t.sessions.set(TEMPLATE, SESSION, { ttlMs: DAY });
  const r = await t.idempotency.reserve(SCOPE, TEMPLATE, 'fp', { leaseMs: DAY });
  if (r.state !== 'reserved') throw new Error(`template reserve: ${r.state}`);
  await t.idempotency.complete(SCOPE, TEMPLATE, r.token, RESPONSE, { retentionMs: DAY });
}

/** Table and key column of each contract (the stores' schema.ts). */
const TABLES: Record<Contract, { table: string; key: string; where: string }> = {
  'rate-limit': { table: 'stowage_rate_limits', key: 'key', where: `key = '${TEMPLATE}'` },
  session: { table: 'stowage_sessions', key: 'id', where: `id = '${TEMPLATE}'` },
  idempotency: { table: 'stowage_idempotency', key: 'key', where: `scope = '${SCOPE}' AND key = '${TEMPLATE}'` },
};

/** `SELECT` list copying the template row, with the key (and maybe the expiry) replaced. */
function copyList(columns: string[], keyColumn: string, keyExpr: string, expiresExpr?: string): string {
  return columns.map((c) => (c === keyColumn ? keyExpr : c === 'expires_at' && expiresExpr ? expiresExpr : c)).join(', ');
}

const CHUNK = 1_000_000;

async function memoryTarget(): Promise<ScaleTarget> {
  const t = { rateLimit: new MemoryRateLimitStore(), sessions: new MemorySessionStore(), idempotency: new MemoryIdempotencyStore() };
  return {
    backend: 'memory',
    ...t,
    // The store API is the memory stores' bulk path.
    async load(contract, from, to) {
      for (let i = from; i < to; i++) {
        const k = keyOf(i);
        if (contract === 'rate-limit') await t.rateLimit.consume(k, POLICY);
        else if (contract === 'session') await t.sessions.set(k, SESSION, { ttlMs: DAY });
        else {
          const r = await t.idempotency.reserve(SCOPE, k, 'fp', { leaseMs: DAY });
          if (r.state === 'reserved') await t.idempotency.complete(SCOPE, k, r.token, RESPONSE, { retentionMs: DAY });
        }
      }
    },
    size: async () => process.memoryUsage().heapUsed,
    async close() {
      for (const s of Object.values(t)) await s.close();
    },
  };
}

async function sqliteTarget({ pragmas, pruneInWorker }: SqliteSettings): Promise<ScaleTarget> {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-scale-'));
  const file = join(dir, 'scale.db');
  const database = new Database(file);
  for (const p of pragmas) database.pragma(p);
  const t = {
    rateLimit: new SqliteRateLimitStore({ database, pruneInWorker }),
    sessions: new SqliteSessionStore({ database, pruneInWorker }),
    idempotency: new SqliteIdempotencyStore({ database, pruneInWorker }),
  };
  await templates(t);
  const columns = (table: string) => (database.pragma(`table_info(${table})`) as { name: string }[]).map((c) => c.name);
  // One statement per chunk, in its own transaction: a recursive CTE feeds an INSERT ... SELECT.
  const copy = (contract: Contract, from: number, to: number, keyPrefix: string, expiresExpr?: string) => {
    const { table, key, where } = TABLES[contract];
    const cols = columns(table);
    const insert = database.prepare(
      `WITH RECURSIVE n(i) AS (SELECT CAST(? AS INTEGER) UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?)
       INSERT INTO ${table} (${cols.join(', ')})
       SELECT ${copyList(cols, key, `'${keyPrefix}' || n.i`, expiresExpr)} FROM n, (SELECT * FROM ${table} WHERE ${where})`,
    );
    for (let a = from; a < to; a += CHUNK) database.transaction(() => insert.run(a, Math.min(to, a + CHUNK)))();
  };
  return {
    backend: 'sqlite',
    ...t,
    pruneInWorker,
    load: async (contract, from, to) => {
      copy(contract, from, to, 'k-');
      database.exec('ANALYZE');
    },
    loadExpired: async (count, tag) => copy('session', 0, count, `x-${tag}-`, `expires_at - ${2 * DAY}`),
    size: async () => statSync(file).size + (statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0),
    async close() {
      for (const s of Object.values(t)) await s.close();
      database.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function postgresTarget(): Promise<ScaleTarget> {
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test', max: 4 });
  pool.on('error', () => {});
  const schema = `scale_${randomBytes(4).toString('hex')}`;
  const t = {
    rateLimit: new PostgresRateLimitStore({ pool, schema }),
    sessions: new PostgresSessionStore({ pool, schema }),
    idempotency: new PostgresIdempotencyStore({ pool, schema }),
  };
  await templates(t);
  const columns = async (table: string) =>
    (
      await pool.query<{ column_name: string }>(
        'SELECT column_name FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position',
        [schema, table],
      )
    ).rows.map((r) => r.column_name);
  const copy = async (contract: Contract, from: number, to: number, keyPrefix: string, expiresExpr?: string) => {
    const { table, key, where } = TABLES[contract];
    const cols = await columns(table);
    const q = `"${schema}".${table}`;
    for (let a = from; a < to; a += CHUNK) {
      await pool.query(
        `INSERT INTO ${q} (${cols.join(', ')})
         SELECT ${copyList(cols, key, `'${keyPrefix}' || g`, expiresExpr)}
         FROM generate_series($1::bigint, $2::bigint) g, (SELECT * FROM ${q} WHERE ${where}) tmpl`,
        [a, Math.min(to, a + CHUNK) - 1],
      );
    }
  };
  return {
    backend: 'postgres',
    ...t,
    load: async (contract, from, to) => {
      await copy(contract, from, to, 'k-');
      // Statistics and the visibility map, as autovacuum would leave a table of that size.
      await pool.query(`VACUUM ANALYZE "${schema}".${TABLES[contract].table}`);
    },
    loadExpired: (count, tag) => copy('session', 0, count, `x-${tag}-`, `expires_at - ${2 * DAY}`),
    size: async () => {
      const r = await pool.query<{ n: string }>(
        `SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint AS n FROM pg_class c
         JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = $1 AND c.relkind = 'r'`,
        [schema],
      );
      return Number(r.rows[0]!.n);
    },
    async close() {
      for (const s of Object.values(t)) await s.close();
      await pool.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await pool.end();
    },
  };
}

/** Deletes every key under `prefix` (SCAN + UNLINK). */
export async function unlinkPrefix(client: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 10_000);
    if (keys.length > 0) await client.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}

// COPY keeps the value's encoding and its TTL: each new key is the template record under a new name.
const COPY_LUA = `local pre, post = ARGV[1], ARGV[2]
for i = tonumber(ARGV[3]), tonumber(ARGV[4]) - 1 do redis.call('COPY', KEYS[1], pre .. i .. post) end
return 1`;

async function redisTarget(): Promise<ScaleTarget> {
  const client = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  const prefix = `scale:${randomBytes(4).toString('hex')}:`;
  const t = {
    rateLimit: new RedisRateLimitStore({ client, prefix }),
    sessions: new RedisSessionStore({ client, prefix }),
    idempotency: new RedisIdempotencyStore({ client, prefix }),
  };
  await templates(t);
  const [, names] = await client.scan('0', 'MATCH', `${prefix}*${TEMPLATE}*`, 'COUNT', 1000);
  const kinds: Record<Contract, string> = { 'rate-limit': 'r:', session: 's:', idempotency: 'i:' };
  const templateKey = (c: Contract) => {
    const k = names.find((n) => n.startsWith(`${prefix}${kinds[c]}`));
    if (!k) throw new Error(`no template key for ${c} among ${names.join(', ')}`);
    return k;
  };
  return {
    backend: 'redis',
    ...t,
    async load(contract, from, to) {
      const tk = templateKey(contract);
      const at = tk.lastIndexOf(TEMPLATE);
      const [pre, post] = [`${tk.slice(0, at)}k-`, tk.slice(at + TEMPLATE.length)];
      // Chunks of 10^4 per script, so Redis answers other clients between them.
      for (let a = from; a < to; a += 10_000) await client.eval(COPY_LUA, 1, tk, pre, post, a, Math.min(to, a + 10_000));
    },
    size: async () => Number(/used_memory:(\d+)/.exec(await client.info('memory'))?.[1]),
    async close() {
      for (const s of Object.values(t)) await s.close();
      await unlinkPrefix(client, prefix);
      client.disconnect();
    },
  };
}

/** SQLite settings of a run: pragmas set on the connection before the stores open it (`name=value`), and `pruneInWorker`. */
export interface SqliteSettings {
  pragmas: string[];
  pruneInWorker: boolean;
}

export function target(backend: Backend, sqlite: SqliteSettings = { pragmas: [], pruneInWorker: false }): Promise<ScaleTarget> {
  switch (backend) {
    case 'memory':
      return memoryTarget();
    case 'sqlite':
      return sqliteTarget(sqlite);
    case 'postgres':
      return postgresTarget();
    case 'redis':
      return redisTarget();
  }
}
