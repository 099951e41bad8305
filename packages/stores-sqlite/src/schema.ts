import { ErrorSource, validateIdentifier } from '@stowage/core/adapter-kit';
import type { Database } from 'better-sqlite3';
import { retryWhileLocked } from './lock-wait.js';

/** The parts of the schema, one per contract; each store migrates its own. */
export type SchemaComponent = 'sessions' | 'rate_limits' | 'idempotency' | 'csrf' | 'locks' | 'jwks' | 'streams';

/**
 * The version each component's DDL brings the tables to. Every statement is idempotent
 * (`IF NOT EXISTS`), so a component below it runs its whole DDL again. 2: the index of a
 * stream's forks.
 */
export const SCHEMA_VERSION = 2;

/**
 * DDL per component, for a table prefix. Every expiry column is indexed. Text keys use
 * SQLite's default BINARY collation, so keys compare byte for byte.
 */
export function schema(tablePrefix: string): Record<SchemaComponent, string[]> {
  const p = validateIdentifier(new ErrorSource('@stowage/stores-sqlite', 'schema'), 'tablePrefix', tablePrefix);
  return {
    sessions: [
      `CREATE TABLE IF NOT EXISTS ${p}sessions (
        id TEXT PRIMARY KEY,
        data BLOB NOT NULL,
        version INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        absolute_expires_at INTEGER,
        owner TEXT
      )`,
      `CREATE INDEX IF NOT EXISTS ${p}sessions_expires_at ON ${p}sessions (expires_at)`,
      `CREATE INDEX IF NOT EXISTS ${p}sessions_owner ON ${p}sessions (owner) WHERE owner IS NOT NULL`,
    ],
    rate_limits: [
      // One row per key and policy; the state's columns are core's RateLimitStateColumns.
      `CREATE TABLE IF NOT EXISTS ${p}rate_limits (
        key TEXT NOT NULL,
        policy TEXT NOT NULL,
        mark INTEGER NOT NULL,
        used INTEGER NOT NULL,
        previous INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        at INTEGER NOT NULL,
        PRIMARY KEY (key, policy)
      ) WITHOUT ROWID`,
      `CREATE INDEX IF NOT EXISTS ${p}rate_limits_expires_at ON ${p}rate_limits (expires_at)`,
    ],
    idempotency: [
      `CREATE TABLE IF NOT EXISTS ${p}idempotency (
        scope TEXT NOT NULL,
        key TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        token TEXT,
        response BLOB,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (scope, key)
      )`,
      `CREATE INDEX IF NOT EXISTS ${p}idempotency_expires_at ON ${p}idempotency (expires_at)`,
    ],
    csrf: [
      `CREATE TABLE IF NOT EXISTS ${p}csrf_tokens (
        hash TEXT PRIMARY KEY,
        session_id TEXT NOT NULL,
        expires_at INTEGER NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${p}csrf_tokens_session_id ON ${p}csrf_tokens (session_id)`,
      `CREATE INDEX IF NOT EXISTS ${p}csrf_tokens_expires_at ON ${p}csrf_tokens (expires_at)`,
    ],
    locks: [
      // Rows outlive their leases: the fence counter must never restart.
      `CREATE TABLE IF NOT EXISTS ${p}locks (
        name TEXT PRIMARY KEY,
        token TEXT,
        fence INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${p}locks_expires_at ON ${p}locks (expires_at)`,
    ],
    jwks: [
      `CREATE TABLE IF NOT EXISTS ${p}jwks (
        uri TEXT PRIMARY KEY,
        jwks TEXT NOT NULL,
        fetched_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${p}jwks_expires_at ON ${p}jwks (expires_at)`,
    ],
    streams: [
      `CREATE TABLE IF NOT EXISTS ${p}streams (
        name TEXT PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        content_type TEXT NOT NULL,
        media_type TEXT NOT NULL,
        ttl_ms INTEGER,
        expires_at INTEGER,
        created_at INTEGER NOT NULL,
        accessed_at INTEGER NOT NULL,
        deadline INTEGER,
        closed INTEGER NOT NULL,
        last_seq TEXT,
        tail INTEGER NOT NULL,
        forked_from TEXT,
        fork_position INTEGER,
        fork_sub_offset INTEGER,
        ref_count INTEGER NOT NULL,
        deleted INTEGER NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${p}streams_deadline ON ${p}streams (deadline) WHERE deleted = 0`,
      // A source kept for its forks looks them up to see whether one still reads through it.
      `CREATE INDEX IF NOT EXISTS ${p}streams_forked_from ON ${p}streams (forked_from) WHERE forked_from IS NOT NULL`,
      `CREATE TABLE IF NOT EXISTS ${p}stream_messages (
        stream_id TEXT NOT NULL,
        position INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (stream_id, position)
      ) WITHOUT ROWID`,
      `CREATE TABLE IF NOT EXISTS ${p}stream_producers (
        stream_id TEXT NOT NULL,
        producer_id TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        seq INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        PRIMARY KEY (stream_id, producer_id)
      ) WITHOUT ROWID`,
    ],
  };
}

type MigrateOptions = { tablePrefix?: string; components?: readonly SchemaComponent[] };

/**
 * Creates (or brings up to date) the tables of the given components. Idempotent, and safe
 * when several processes run it at once: it runs in one `BEGIN IMMEDIATE` transaction and
 * records each component's version in `<prefix>schema_version`. Synchronous: while another
 * connection holds the write lock, it waits with the thread blocked, tried again in short pauses
 * for up to 5 s (whatever the connection's `busy_timeout`, which a store sets to 0).
 */
export function migrate(database: Database, options: MigrateOptions = {}): void {
  retryWhileLocked(() => migrateOnce(database, options), 5000);
}

/** {@link migrate} tried once (a lock error thrown at once with `busy_timeout = 0`): what a store runs, waiting for the lock itself. */
export function migrateOnce(database: Database, options: MigrateOptions = {}): void {
  const prefix = options.tablePrefix ?? 'stowage_';
  const ddl = schema(prefix);
  const components = options.components ?? (Object.keys(ddl) as SchemaComponent[]);
  database
    .transaction(() => {
      database.exec(`CREATE TABLE IF NOT EXISTS ${prefix}schema_version (component TEXT PRIMARY KEY, version INTEGER NOT NULL)`);
      const current = database.prepare(`SELECT version FROM ${prefix}schema_version WHERE component = ?`);
      const record = database.prepare(
        `INSERT INTO ${prefix}schema_version (component, version) VALUES (?, ?)
         ON CONFLICT (component) DO UPDATE SET version = excluded.version`,
      );
      for (const c of components) {
        const row = current.get(c) as { version: number } | undefined;
        if (row !== undefined && row.version >= SCHEMA_VERSION) continue;
        for (const statement of ddl[c]) database.exec(statement);
        record.run(c, SCHEMA_VERSION);
      }
    })
    .immediate();
}
