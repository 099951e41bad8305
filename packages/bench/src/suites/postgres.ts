import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { jsonCodec, type RateLimitPolicy } from '@stowage/core';
import { migrate, PostgresRateLimitStore, PostgresSessionStore } from '@stowage/stores-postgres';
import pg from 'pg';
import { RateLimiterPostgres } from 'rate-limiter-flexible';
import type { Comparison, Contender } from '../harness.js';
import { keys, sessionObject, sessionOp } from './data.js';

const require = createRequire(import.meta.url);
const DAY = 86_400_000;

interface CallbackStore {
  get(sid: string, cb: (err: unknown, sess?: unknown) => void): void;
  set(sid: string, sess: unknown, cb: (err?: unknown) => void): void;
}

/**
 * PostgreSQL rows. The server: DATABASE_URL, else the local one. Each contender gets its own
 * pool (20 connections, so 64 calls in flight queue on the pool as in an application) and its
 * own schema, dropped at exit.
 */
export function postgresComparisons(): Comparison[] {
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
  const pools: pg.Pool[] = [];
  const schemas: string[] = [];
  const pool = () => {
    const p = new pg.Pool({ connectionString: url, max: 20 });
    p.on('error', () => {});
    pools.push(p);
    return p;
  };
  const schema = () => {
    const s = `bench_${randomBytes(4).toString('hex')}`;
    schemas.push(s);
    return s;
  };
  const cleanup = async () => {
    const p = pool();
    for (const s of schemas) await p.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`).catch(() => {});
    for (const q of pools) await q.end().catch(() => {});
  };

  const ipKeys = keys('ip', 10_000);
  const sids = keys('sid', 10_000);
  const sess = sessionObject();
  const policy: RateLimitPolicy = { algorithm: 'fixed-window', limit: 1_000_000_000, windowMs: 60_000 };

  const ours = (unlogged: boolean): Contender => ({
    library: unlogged ? 'stowage (unlogged)' : 'stowage',
    setup: async () => {
      const store = new PostgresRateLimitStore({ pool: pool(), schema: schema(), unlogged });
      return (i) => store.consume(ipKeys[i % ipKeys.length]!, policy);
    },
  });
  const raw = (unlogged: boolean): Contender => ({
    // The ceiling: the plainest upsert of a counter on the same table and indexes, prepared.
    library: unlogged ? 'raw pg upsert (ceiling, unlogged)' : 'raw pg upsert (ceiling)',
    setup: async () => {
      const p = pool();
      const s = schema();
      await migrate(p, { schema: s, components: ['rate_limits'], unlogged });
      const text = `INSERT INTO "${s}".stowage_rate_limits AS t (key, policy, a, b, c, expires_at, at) VALUES ($1, 'f', $2, 1, 0, $3, 0)
        ON CONFLICT (key, policy) DO UPDATE SET b = CASE WHEN t.a = excluded.a THEN t.b + 1 ELSE 1 END,
          a = excluded.a, expires_at = excluded.expires_at
        RETURNING b`;
      return (i) => {
        const w = Math.floor(Date.now() / 60_000);
        return p.query({ name: `raw-rl-${s}`, text, values: [ipKeys[i % ipKeys.length]!, w, (w + 1) * 60_000] });
      };
    },
  });
  const theirs = (unlogged: boolean): Contender => ({
    library: unlogged ? 'rate-limiter-flexible RateLimiterPostgres (unlogged table)' : 'rate-limiter-flexible RateLimiterPostgres',
    setup: async () => {
      const p = pool();
      const s = schema();
      await p.query(`CREATE SCHEMA "${s}"`);
      const table = 'rl';
      if (unlogged)
        await p.query(
          `CREATE UNLOGGED TABLE "${s}".${table} (key varchar(255) PRIMARY KEY, points integer NOT NULL DEFAULT 0, expire bigint)`,
        );
      let limiter!: RateLimiterPostgres;
      await new Promise<void>((resolve, reject) => {
        limiter = new RateLimiterPostgres(
          {
            storeClient: p,
            schemaName: s,
            tableName: table,
            points: 1_000_000_000,
            duration: 60,
            tableCreated: unlogged,
            clearExpiredByTimeout: false,
          },
          (err?: unknown) => (err ? reject(err) : resolve()),
        );
      });
      return (i) => limiter.consume(ipKeys[i % ipKeys.length]!).catch((r: unknown) => r);
    },
  });

  // The unlogged row compares our unlogged tables with what RateLimiterPostgres gives by
  // default (it has no unlogged option; its table on UNLOGGED, made by hand, is shown too).
  const rateLimit = (unlogged: boolean): Comparison => ({
    contract: 'RateLimitStore',
    operation: unlogged ? 'consume, 10k keys, unlogged tables' : 'consume, 10k keys',
    backend: 'postgres',
    ours: ours(unlogged),
    anchor: theirs(false),
    others: unlogged ? [theirs(true), raw(true)] : [raw(false)],
  });

  const sessions = (kind: 'get' | 'set'): Comparison => ({
    contract: 'SessionStore',
    operation: kind === 'get' ? 'get + JSON decode, 10k sessions' : 'set + JSON encode, 10k sessions',
    backend: 'postgres',
    ours: {
      library: 'stowage',
      setup: async () => {
        return sessionOp(new PostgresSessionStore({ pool: pool(), schema: schema() }), kind, sids, sess);
      },
    },
    anchor: {
      library: 'connect-pg-simple',
      setup: async () => {
        const p = pool();
        const s = schema();
        await p.query(`CREATE SCHEMA "${s}"`);
        const session = require('express-session') as { Store: unknown };
        const factory = require('connect-pg-simple') as (s: unknown) => new (o: object) => CallbackStore;
        const PgStore = factory(session);
        const store = new PgStore({ pool: p, schemaName: s, createTableIfMissing: true, pruneSessionInterval: false });
        const setP = (sid: string) => new Promise<void>((res, rej) => store.set(sid, sess, (e) => (e ? rej(e) : res())));
        for (const sid of sids) await setP(sid);
        if (kind === 'get') return (i) => new Promise((res, rej) => store.get(sids[i % sids.length]!, (e, v) => (e ? rej(e) : res(v))));
        return (i) => setP(sids[i % sids.length]!);
      },
    },
    others: [
      {
        library: 'raw pg statement (ceiling)',
        setup: async () => {
          const p = pool();
          const s = schema();
          await migrate(p, { schema: s, components: ['sessions'] });
          const put = `INSERT INTO "${s}".stowage_sessions AS t (id, data, version, expires_at) VALUES ($1, $2, 1, $3)
            ON CONFLICT (id) DO UPDATE SET data = excluded.data, version = t.version + 1, expires_at = excluded.expires_at`;
          const get = `SELECT data FROM "${s}".stowage_sessions WHERE id = $1 AND expires_at > $2`;
          for (const sid of sids)
            await p.query({ name: `raw-put-${s}`, text: put, values: [sid, jsonCodec.encode(sess, sid), Date.now() + DAY] });
          if (kind === 'get') {
            return async (i) => {
              const r = await p.query({ name: `raw-get-${s}`, text: get, values: [sids[i % sids.length]!, Date.now()] });
              return r.rows[0] && jsonCodec.decode(r.rows[0].data as Buffer, '');
            };
          }
          return (i) =>
            p.query({ name: `raw-put-${s}`, text: put, values: [sids[i % sids.length]!, jsonCodec.encode(sess, ''), Date.now() + DAY] });
        },
      },
    ],
  });

  const list = [rateLimit(false), rateLimit(true), sessions('get'), sessions('set')];
  // The last comparison cleans up the schemas and pools.
  const last = list[list.length - 1]!;
  const teardown = last.ours.teardown;
  last.ours.teardown = async () => {
    await teardown?.();
    await cleanup();
  };
  return list;
}
