import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { jsonCodec, type RateLimitPolicy } from '@stowage/core';
import { migrate, SqliteRateLimitStore, SqliteSessionStore } from '@stowage/stores-sqlite';
import Database from 'better-sqlite3';
import { RateLimiterSQLite } from 'rate-limiter-flexible';
import type { Comparison, Contender } from '../harness.js';
import { keys, sessionObject, sessionOp } from './data.js';

const require = createRequire(import.meta.url);
const DAY = 86_400_000;

interface CallbackStore {
  get(sid: string, cb: (err: unknown, sess?: unknown) => void): void;
  set(sid: string, sess: unknown, cb: (err?: unknown) => void): void;
}

/** A database file per contender, with the pragmas our store sets (so the ceiling is like for like). */
function database(dir: string, name: string): Database.Database {
  const db = new Database(join(dir, `${name}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  return db;
}

export function sqliteComparisons(): Comparison[] {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-bench-sqlite-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const ipKeys = keys('ip', 10_000);
  const sids = keys('sid', 10_000);
  const sess = sessionObject();
  const policy: RateLimitPolicy = { algorithm: 'fixed-window', limit: 1_000_000_000, windowMs: 60_000 };

  const rateLimit: Comparison = {
    contract: 'RateLimitStore',
    operation: 'consume, 10k keys',
    backend: 'sqlite file',
    ours: {
      library: 'stowage',
      setup: async () => {
        const store = new SqliteRateLimitStore({ database: database(dir, 'rl-ours') });
        return (i) => store.consume(ipKeys[i % ipKeys.length]!, policy);
      },
    },
    anchor: {
      library: 'rate-limiter-flexible RateLimiterSQLite',
      setup: async () => {
        const db = database(dir, 'rl-theirs');
        const limiter = await new Promise<RateLimiterSQLite>((resolve, reject) => {
          const l: RateLimiterSQLite = new RateLimiterSQLite(
            { storeClient: db, storeType: 'better-sqlite3', tableName: 'rl', points: 1_000_000_000, duration: 60 },
            (err?: unknown) => (err ? reject(err) : resolve(l)),
          );
        });
        return (i) => limiter.consume(ipKeys[i % ipKeys.length]!).catch((r: unknown) => r);
      },
    },
    others: [
      {
        // The ceiling: the fastest hand-written statement on the same table and indexes.
        library: 'raw better-sqlite3 upsert (ceiling)',
        setup: async () => {
          const db = database(dir, 'rl-raw');
          migrate(db, { components: ['rate_limits'] });
          const upsert = db.prepare(
            `INSERT INTO stowage_rate_limits (key, policy, a, b, c, expires_at, at) VALUES (?, 'f', ?, 1, 0, ?, 0)
             ON CONFLICT (key, policy) DO UPDATE SET
               b = CASE WHEN a = excluded.a THEN b + 1 ELSE 1 END, a = excluded.a, expires_at = excluded.expires_at`,
          );
          return async (i) => {
            const w = Math.floor(Date.now() / 60_000);
            return upsert.run(ipKeys[i % ipKeys.length]!, w, (w + 1) * 60_000);
          };
        },
      },
    ],
  };

  const sessionRows = (kind: 'get' | 'set'): Comparison => {
    const ours: Contender = {
      library: 'stowage',
      setup: async () => {
        return sessionOp(new SqliteSessionStore({ database: database(dir, `s-${kind}-ours`) }), kind, sids, sess);
      },
    };
    const anchor: Contender = {
      library: 'better-sqlite3-session-store',
      setup: async () => {
        const session = require('express-session') as { Store: unknown };
        const factory = require('better-sqlite3-session-store') as (s: unknown) => new (o: object) => CallbackStore;
        const SqliteStore = factory(session);
        const store = new SqliteStore({ client: database(dir, `s-${kind}-theirs`), expired: { clear: false } });
        const setP = (sid: string) => new Promise<void>((res, rej) => store.set(sid, sess, (e) => (e ? rej(e) : res())));
        for (const sid of sids) await setP(sid);
        if (kind === 'get') {
          return (i) => new Promise((res, rej) => store.get(sids[i % sids.length]!, (e, v) => (e ? rej(e) : res(v))));
        }
        return (i) => setP(sids[i % sids.length]!);
      },
    };
    const raw: Contender = {
      // The ceiling: the plainest upsert / select on the same table and indexes.
      library: 'raw better-sqlite3 statement (ceiling)',
      setup: async () => {
        const db = database(dir, `s-${kind}-raw`);
        migrate(db, { components: ['sessions'] });
        const put = db.prepare(
          `INSERT INTO stowage_sessions (id, data, version, expires_at) VALUES (?, ?, 1, ?)
           ON CONFLICT (id) DO UPDATE SET data = excluded.data, version = version + 1, expires_at = excluded.expires_at`,
        );
        const get = db.prepare('SELECT data FROM stowage_sessions WHERE id = ? AND expires_at > ?');
        for (const sid of sids) put.run(sid, jsonCodec.encode(sess, sid), Date.now() + DAY);
        if (kind === 'get') {
          return async (i) => {
            const row = get.get(sids[i % sids.length]!, Date.now()) as { data: Buffer } | undefined;
            return row && jsonCodec.decode(row.data, '');
          };
        }
        return async (i) => put.run(sids[i % sids.length]!, jsonCodec.encode(sess, ''), Date.now() + DAY);
      },
    };
    return {
      contract: 'SessionStore',
      operation: kind === 'get' ? 'get + JSON decode, 10k sessions' : 'set + JSON encode, 10k sessions',
      backend: 'sqlite file',
      ours,
      anchor,
      others: [raw],
    };
  };

  return [rateLimit, sessionRows('get'), sessionRows('set')];
}
