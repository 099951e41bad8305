import { describeConformance, type ConformanceContext } from '@stowage/conformance';
import { describeBackends, postgresBackends } from '@stowage/conformance/backends';
import { createSubscriptionStore } from '@stowage/core';
import pg from 'pg';
import { afterAll } from 'vitest';
import {
  PostgresCsrfTokenStore,
  PostgresIdempotencyStore,
  PostgresJwksCacheStore,
  PostgresLockStore,
  PostgresRateLimitStore,
  PostgresSessionStore,
  PostgresStreamStore,
  type PostgresStoreOptions,
} from '../src/index.js';

const backends = await postgresBackends();

describeBackends(backends, (backend) => {
  const pool = new pg.Pool({ connectionString: backend.url, max: 20 });
  pool.on('error', () => {}); // idle clients dropped by the server
  afterAll(() => pool.end());

  // Each test gets its own schema (the namespace), dropped afterwards.
  const opts = (ctx: ConformanceContext): PostgresStoreOptions => ({ pool, schema: ctx.namespace.slice(0, -1), clock: ctx.clock });
  // The session stores under subscription stores (which never close them), closed at teardown.
  const sessions = new Map<string, PostgresSessionStore[]>();
  const sessionsOf = (ctx: ConformanceContext): PostgresSessionStore => {
    const store = new PostgresSessionStore(opts(ctx));
    sessions.set(ctx.namespace, [...(sessions.get(ctx.namespace) ?? []), store]);
    return store;
  };

  describeConformance({
    name: 'stores-postgres',
    health: true,
    sessions: (ctx) => new PostgresSessionStore(opts(ctx)),
    rateLimits: (ctx) => new PostgresRateLimitStore(opts(ctx)),
    idempotency: (ctx) => new PostgresIdempotencyStore(opts(ctx)),
    csrf: (ctx) => new PostgresCsrfTokenStore(opts(ctx)),
    locks: (ctx) => new PostgresLockStore(opts(ctx)),
    jwks: (ctx) => new PostgresJwksCacheStore(opts(ctx)),
    streams: (ctx) => new PostgresStreamStore(opts(ctx)),
    subscriptions: (ctx) => createSubscriptionStore({ sessions: sessionsOf(ctx), clock: ctx.clock }),
    inspect: async (ctx) => {
      const schema = ctx.namespace.slice(0, -1);
      const { rows: tables } = await pool.query(`SELECT tablename FROM pg_tables WHERE schemaname = $1`, [schema]);
      const parts: string[] = [];
      for (const { tablename } of tables) {
        const { rows } = await pool.query(`SELECT * FROM "${schema}"."${tablename}"`);
        parts.push(
          tablename,
          JSON.stringify(rows, (_, v) => (v && v.type === 'Buffer' ? Buffer.from(v.data).toString('hex') : v)),
        );
      }
      return parts.join('\n');
    },
    teardown: async (ctx) => {
      for (const store of sessions.get(ctx.namespace) ?? []) await store.close();
      sessions.delete(ctx.namespace);
      await pool.query(`DROP SCHEMA IF EXISTS "${ctx.namespace.slice(0, -1)}" CASCADE`);
    },
  });
});
