import { existsSync, mkdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { type BackgroundErrorHandler, type HealthResult, type SessionStore, StowageError, type StreamStore } from '@stowage/core';
import { validateOptionNames, validateOptions } from '@stowage/core/adapter-kit';
import { source } from './protocol.js';

export interface OpenedStore {
  store: StreamStore;
  /** A SessionStore on the same backend (file, pool or client), when asked for (`{ sessions: true }`). */
  sessions?: SessionStore;
  /** The spec with every secret it can carry masked (see `maskSecrets`), for logs. */
  label: string;
  /** Closes the store and the connection or file it opened. */
  close(): Promise<void>;
  /** One probe of the backend (the stream store's `health()`); never throws. */
  health(): Promise<HealthResult>;
}

/** Where a store keeps its data inside its backend. */
export interface StoreSpecOptions {
  /** A SessionStore on the same backend too (subscriptions keep their state there). @default false */
  sessions?: boolean;
  /** PostgreSQL: the schema of the tables (created if missing). @default 'public' */
  schema?: string;
  /** PostgreSQL: the prefix of every table name. @default 'stowage_' */
  tablePrefix?: string;
  /** Redis: the prefix of every key. @default 'stowage:' */
  keyPrefix?: string;
  /**
   * SQLite, PostgreSQL and Redis: the stream store's `readCacheBytes` (see `StreamReadCacheOptions` in
   * `@stowage/core/adapter-kit`). @default the store's default (64 MiB)
   */
  readCacheBytes?: number;
  /**
   * Receives the stores' background failures (their `onError`) and the connection's own: an
   * idle PostgreSQL client dropped, a Redis connection lost (once per loss, not per retry).
   * @default each store's default (one `console.error` line); connection errors unreported
   */
  onError?: BackgroundErrorHandler;
}

/** Each option of {@link StoreSpecOptions}, once. */
const OPTION_NAMES: Readonly<Record<keyof StoreSpecOptions, true>> = {
  sessions: true,
  schema: true,
  tablePrefix: true,
  keyPrefix: true,
  readCacheBytes: true,
  onError: true,
};

/**
 * Opens a StreamStore from a command-line spec:
 * `memory`, `sqlite:PATH` (the file and its directory are created), `postgres://...`
 * (or `postgresql://`), `redis://...` (or `rediss://`). The store package and its driver are
 * loaded only for the backend asked for, so only that one needs to be installed.
 * With `sessions: true`, a SessionStore of the same backend is opened too (subscriptions keep
 * their state there), over the same file, pool or client.
 */
export async function openStore(spec: string, options: StoreSpecOptions = {}): Promise<OpenedStore> {
  // Each backend takes the options of its own kind and leaves the others' (`schema` with
  // SQLite): the CLI passes them all. A name of none of them is refused.
  validateOptionNames(source, 'options', validateOptions<StoreSpecOptions>(source, 'options', options), OPTION_NAMES);
  const withSessions = options.sessions === true;
  const inPostgres = {
    ...(options.schema === undefined ? {} : { schema: options.schema }),
    ...(options.tablePrefix === undefined ? {} : { tablePrefix: options.tablePrefix }),
  };
  const inRedis = options.keyPrefix === undefined ? {} : { prefix: options.keyPrefix };
  const cache = options.readCacheBytes === undefined ? {} : { readCacheBytes: options.readCacheBytes };
  const onError = options.onError;
  const reporting = onError === undefined ? {} : { onError };
  const connectionLost = (store: string) => (err: unknown) =>
    onError?.(StowageError.from(err, 'UNAVAILABLE'), { operation: 'connection', store });
  if (spec === 'memory') {
    const { MemoryStreamStore, MemorySessionStore } = await load(() => import('@stowage/stores-memory'), '@stowage/stores-memory');
    const store = new MemoryStreamStore(reporting);
    const sessions = withSessions ? new MemorySessionStore(reporting) : undefined;
    return {
      store,
      ...(sessions === undefined ? {} : { sessions }),
      label: 'memory',
      close: async () => {
        await store.close();
        await sessions?.close();
      },
      health: () => store.health(),
    };
  }
  if (spec.startsWith('sqlite:')) {
    // `~/` as a shell would expand it: the spec reaches us unexpanded after `sqlite:`.
    const written = spec.slice('sqlite:'.length);
    const file = written.startsWith('~/') ? join(homedir(), written.slice(2)) : written;
    if (file.length === 0) throw source.invalid('sqlite: needs a file path, e.g. sqlite:./data/streams.db');
    const { SqliteStreamStore, SqliteSessionStore } = await load(() => import('@stowage/stores-sqlite'), '@stowage/stores-sqlite');
    const { default: Database } = await load(() => import('better-sqlite3'), 'better-sqlite3');
    if (file !== ':memory:') makeDirectories(dirname(resolve(file)));
    const database = new Database(file);
    const store = new SqliteStreamStore({ database, ...cache, ...reporting });
    const sessions = withSessions ? new SqliteSessionStore({ database, ...reporting }) : undefined;
    return {
      store,
      ...(sessions === undefined ? {} : { sessions }),
      label: `sqlite:${file}`,
      close: async () => {
        await store.close();
        await sessions?.close();
        database.close();
      },
      health: () => store.health(),
    };
  }
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const { PostgresStreamStore, PostgresSessionStore } = await load(() => import('@stowage/stores-postgres'), '@stowage/stores-postgres');
    const { default: pg } = await load(() => import('pg'), 'pg');
    const pool = new pg.Pool({ connectionString: spec });
    // An idle client dropped by the server: reported; the pool opens another on the next call.
    pool.on('error', connectionLost('pg Pool'));
    const store = new PostgresStreamStore({ pool, ...inPostgres, ...cache, ...reporting });
    const sessions = withSessions ? new PostgresSessionStore({ pool, ...inPostgres, ...reporting }) : undefined;
    return {
      store,
      ...(sessions === undefined ? {} : { sessions }),
      label: maskSecrets(spec),
      close: async () => {
        await store.close();
        await sessions?.close();
        await pool.end();
      },
      health: () => store.health(),
    };
  }
  if (/^rediss?:\/\//.test(spec)) {
    const { RedisStreamStore, RedisSessionStore } = await load(() => import('@stowage/stores-redis'), '@stowage/stores-redis');
    const { Redis } = await load(() => import('ioredis'), 'ioredis');
    const client = new Redis(spec, { lazyConnect: false });
    // It reconnects on its own (the store answers UNAVAILABLE meanwhile) and emits an error per
    // attempt: the first of each loss is reported.
    const lost = connectionLost('ioredis client');
    let down = false;
    client.on('error', (err: unknown) => {
      if (!down) lost(err);
      down = true;
    });
    client.on('ready', () => {
      down = false;
    });
    const store = new RedisStreamStore({ client, ...inRedis, ...cache, ...reporting });
    const sessions = withSessions ? new RedisSessionStore({ client, ...inRedis, ...reporting }) : undefined;
    return {
      store,
      ...(sessions === undefined ? {} : { sessions }),
      label: maskSecrets(spec),
      close: async () => {
        await store.close();
        await sessions?.close();
        client.disconnect();
      },
      health: () => store.health(),
    };
  }
  throw source.invalid(`unknown store ${JSON.stringify(maskSecrets(spec))}: use memory, sqlite:PATH, postgres://... or redis://...`);
}

async function load<T>(importer: () => Promise<T>, name: string): Promise<T> {
  try {
    return await importer();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw source.error('INVALID_ARGUMENT', `this store needs ${name}: npm install ${name}`, { cause: err });
    }
    throw err;
  }
}

/**
 * A store URL fit for a log line: the password, every query parameter's value (drivers take
 * passwords, keys and tokens there: `?password=`, `sslpassword`, ...) and the fragment are
 * `***`; the scheme, user, host, port, path and parameter names stay.
 */
export function maskSecrets(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    // Not a URL (e.g. an unencoded '@' in the password): hide the user part and the query.
    return url.replace(/\/\/[^/]*@/, '//***@').replace(/[?#][\s\S]*$/, '?***');
  }
  if (u.password !== '') u.password = '***';
  for (const name of new Set(u.searchParams.keys())) u.searchParams.set(name, '***');
  if (u.hash !== '') u.hash = '***';
  return u.toString();
}

/**
 * Creates `dir` and its missing parents, one level at a time. Not `mkdirSync(dir, { recursive:
 * true })`: on Node 20 that loops for ever under a directory that refuses new entries with
 * ENOENT (e.g. `/proc/nope/x`), so `--store sqlite:/proc/nope/x.db` hung instead of failing.
 */
function makeDirectories(dir: string): void {
  const missing: string[] = [];
  for (let d = dir; !existsSync(d); d = dirname(d)) {
    if (dirname(d) === d) break;
    missing.unshift(d);
  }
  for (const d of missing) {
    try {
      mkdirSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw source.invalid(`cannot create the directory ${d} for the SQLite file: ${(err as Error).message}`);
    }
  }
}
