import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { CsrfTokenStore, IdempotencyStore, JwksCacheStore, LockStore, RateLimitStore, SessionStore, StreamStore } from '@stowage/core';
import { maskSecrets } from '@stowage/durable-streams-server';

/** Every store the app uses, on one backend. */
export interface AppStores {
  sessions: SessionStore;
  rateLimits: RateLimitStore;
  idempotency: IdempotencyStore;
  csrf: CsrfTokenStore;
  locks: LockStore;
  jwks: JwksCacheStore;
  streams: StreamStore;
  /** The backend, for logs (passwords hidden). */
  label: string;
  close(): Promise<void>;
}

/**
 * Opens every store on the backend `STOWAGE_STORE` names: `sqlite:PATH` (the default,
 * `sqlite:./data/example.db`), `postgres://...` or `redis://...`.
 */
export async function openStores(spec: string): Promise<AppStores> {
  if (spec.startsWith('sqlite:')) {
    const file = spec.slice('sqlite:'.length);
    const [{ default: Database }, s] = await Promise.all([import('better-sqlite3'), import('@stowage/stores-sqlite')]);
    mkdirSync(dirname(resolve(file)), { recursive: true });
    const database = new Database(file);
    const o = { database };
    const stores = [
      new s.SqliteSessionStore(o),
      new s.SqliteRateLimitStore(o),
      new s.SqliteIdempotencyStore(o),
      new s.SqliteCsrfTokenStore(o),
      new s.SqliteLockStore(o),
      new s.SqliteJwksCacheStore(o),
      new s.SqliteStreamStore(o),
    ] as const;
    return assemble(stores, spec, async () => void database.close());
  }
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const [{ default: pg }, s] = await Promise.all([import('pg'), import('@stowage/stores-postgres')]);
    const pool = new pg.Pool({ connectionString: spec });
    pool.on('error', () => {});
    const o = { pool };
    const stores = [
      new s.PostgresSessionStore(o),
      new s.PostgresRateLimitStore({ ...o, unlogged: true }),
      new s.PostgresIdempotencyStore(o),
      new s.PostgresCsrfTokenStore(o),
      new s.PostgresLockStore(o),
      new s.PostgresJwksCacheStore(o),
      new s.PostgresStreamStore(o),
    ] as const;
    return assemble(stores, maskSecrets(spec), () => pool.end());
  }
  if (/^rediss?:\/\//.test(spec)) {
    const [{ Redis }, s] = await Promise.all([import('ioredis'), import('@stowage/stores-redis')]);
    const client = new Redis(spec);
    client.on('error', () => {});
    const o = { client, prefix: 'example:' };
    const stores = [
      new s.RedisSessionStore(o),
      new s.RedisRateLimitStore(o),
      new s.RedisIdempotencyStore(o),
      new s.RedisCsrfTokenStore(o),
      new s.RedisLockStore(o),
      new s.RedisJwksCacheStore(o),
      new s.RedisStreamStore(o),
    ] as const;
    return assemble(stores, maskSecrets(spec), async () => void client.disconnect());
  }
  throw new Error(`STOWAGE_STORE must be sqlite:PATH, postgres://... or redis://..., got ${maskSecrets(spec)}`);
}

type Seven = readonly [SessionStore, RateLimitStore, IdempotencyStore, CsrfTokenStore, LockStore, JwksCacheStore, StreamStore];

/** The stores of a set (e.g. from tests), under the names the app uses. */
export function assemble(stores: Seven, label: string, end: () => Promise<void>): AppStores {
  const [sessions, rateLimits, idempotency, csrf, locks, jwks, streams] = stores;
  return {
    sessions,
    rateLimits,
    idempotency,
    csrf,
    locks,
    jwks,
    streams,
    label,
    close: async () => {
      for (const s of stores) await s.close();
      await end();
    },
  };
}
