import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeConformance, type ConformanceContext, type ConformanceOptions } from '@stowage/conformance';
import { createSubscriptionStore } from '@stowage/core';
import Database from 'better-sqlite3';
import { afterAll, describe } from 'vitest';
import {
  SqliteCsrfTokenStore,
  SqliteIdempotencyStore,
  SqliteJwksCacheStore,
  SqliteLockStore,
  SqliteRateLimitStore,
  SqliteSessionStore,
  SqliteStreamStore,
  type SqliteStoreOptions,
} from '../src/index.js';
import { dropPrefix, dumpPrefix } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'stowage-sqlite-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Options per backend flavour: `:memory:` (one database per namespace) or one file for the run. */
function suite(name: string, connect: (ctx: ConformanceContext) => Database.Database, disconnect: (ctx: ConformanceContext) => void) {
  const open = new Map<string, Database.Database[]>();
  const opts = (ctx: ConformanceContext): SqliteStoreOptions => {
    const db = connect(ctx);
    open.set(ctx.namespace, [...(open.get(ctx.namespace) ?? []), db]);
    return { database: db, tablePrefix: ctx.namespace, clock: ctx.clock };
  };
  // The session stores under subscription stores (which never close them), closed at teardown.
  const sessions = new Map<string, SqliteSessionStore[]>();
  const sessionsOf = (ctx: ConformanceContext): SqliteSessionStore => {
    const store = new SqliteSessionStore(opts(ctx));
    sessions.set(ctx.namespace, [...(sessions.get(ctx.namespace) ?? []), store]);
    return store;
  };
  const options: ConformanceOptions = {
    name,
    health: true,
    sessions: (ctx) => new SqliteSessionStore(opts(ctx)),
    rateLimits: (ctx) => new SqliteRateLimitStore(opts(ctx)),
    idempotency: (ctx) => new SqliteIdempotencyStore(opts(ctx)),
    csrf: (ctx) => new SqliteCsrfTokenStore(opts(ctx)),
    locks: (ctx) => new SqliteLockStore(opts(ctx)),
    jwks: (ctx) => new SqliteJwksCacheStore(opts(ctx)),
    streams: (ctx) => new SqliteStreamStore(opts(ctx)),
    subscriptions: (ctx) => createSubscriptionStore({ sessions: sessionsOf(ctx), clock: ctx.clock }),
    inspect: async (ctx) => dumpPrefix(open.get(ctx.namespace)![0]!, ctx.namespace),
    teardown: async (ctx) => {
      for (const store of sessions.get(ctx.namespace) ?? []) await store.close();
      sessions.delete(ctx.namespace);
      const dbs = open.get(ctx.namespace) ?? [];
      if (dbs[0]?.open) dropPrefix(dbs[0], ctx.namespace);
      disconnect(ctx);
      for (const db of dbs) if (db.open) db.close();
      open.delete(ctx.namespace);
    },
  };
  describeConformance(options);
}

describe('stores-sqlite', () => {
  // :memory: is one database per connection: a namespace's stores share one connection.
  const memory = new Map<string, Database.Database>();
  suite(
    ':memory:',
    (ctx) => {
      if (!memory.has(ctx.namespace)) memory.set(ctx.namespace, new Database(':memory:'));
      return memory.get(ctx.namespace)!;
    },
    (ctx) => memory.delete(ctx.namespace),
  );
  // A file: each store (each "replica") opens its own connection, as separate processes would.
  const file = join(dir, 'conformance.db');
  suite(
    'file',
    () => new Database(file),
    () => {},
  );
});
