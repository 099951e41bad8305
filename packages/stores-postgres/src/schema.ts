import { ErrorSource, PG_SERVER_NOW, postgresDialect, rateLimitManySql, validateIdentifier } from '@stowage/core/adapter-kit';
import type { ClientBase, Pool, PoolClient } from 'pg';

/** The parts of the schema, one per contract; each store migrates its own. */
export type SchemaComponent = 'sessions' | 'rate_limits' | 'idempotency' | 'csrf' | 'locks' | 'jwks' | 'streams';

/**
 * Migrations per component, in order; a component at version n has run the first n.
 * Later releases append (never edit) entries, so `migrate()` can alter existing tables.
 */
type Migrations = Record<SchemaComponent, ((t: Tables) => string[])[]>;

/** Quoted, schema-qualified table and index names for a schema and prefix. */
export interface Tables {
  schema: string;
  prefix: string;
  /** `"schema"."prefix<name>"` */
  table(name: string): string;
  /** `"prefix<name>"` (indexes live in the table's schema). */
  index(name: string): string;
  /** `CREATE TABLE` or `CREATE UNLOGGED TABLE`. */
  create: string;
}

export function tables(schema: string, prefix: string, unlogged = false): Tables {
  const source = new ErrorSource('@stowage/stores-postgres', 'schema');
  validateIdentifier(source, 'schema', schema, 63);
  validateIdentifier(source, 'tablePrefix', prefix, 40);
  return {
    schema,
    prefix,
    table: (name) => `"${schema}"."${prefix}${name}"`,
    index: (name) => `"${prefix}${name}"`,
    create: unlogged ? 'CREATE UNLOGGED TABLE IF NOT EXISTS' : 'CREATE TABLE IF NOT EXISTS',
  };
}

/** The name of the multi-policy consume function. */
export const rateLimitFunctionName = (t: Tables): string => `"${t.schema}"."${t.prefix}rate_limit_consume"`;

/**
 * Consuming from several policies at once, in one call. One statement cannot do it safely in
 * PostgreSQL: its snapshot may miss a row another replica is writing, and upserting a state
 * decided from that snapshot would lose the other write. So the function serializes this
 * key's multi-policy consumers (advisory lock), locks the key's rows (which also waits for
 * single-policy writers), and then runs the shared statement on a fresh snapshot, each upsert
 * guarded by the row it read. A row created meanwhile makes the guard fail: the function
 * raises a serialization failure (40001), everything rolls back, and the store retries.
 */
function rateLimitFunction(t: Tables): string {
  const table = t.table('rate_limits');
  const statement = rateLimitManySql(postgresDialect, table, 0, {
    policies:
      'unnest(p_ids, p_algs, p_lims, p_wins, p_caps, array_fill(p_cost, ARRAY[cardinality(p_ids)])) ' +
      'AS policies (id, alg, lim, win, cap, cost)',
    key: 'p_key',
    now: `COALESCE(p_now, ${PG_SERVER_NOW})`,
    guarded: true,
  });
  return `CREATE OR REPLACE FUNCTION ${rateLimitFunctionName(t)}(
    p_key text, p_now bigint, p_ids text[], p_algs bigint[], p_lims bigint[], p_wins bigint[], p_caps bigint[], p_cost bigint)
  RETURNS TABLE (policy text, mark bigint, used bigint, previous bigint, now bigint)
  LANGUAGE plpgsql VOLATILE AS $fn$
  #variable_conflict use_column
  DECLARE written integer;
  BEGIN
    PERFORM pg_advisory_xact_lock(hashtextextended('stowage:rl:' || ${quoteLiteral(table)} || ':' || p_key, 0));
    PERFORM 1 FROM ${table} r WHERE r.key = p_key FOR UPDATE;
    RETURN QUERY ${statement};
    GET DIAGNOSTICS written = ROW_COUNT;
    IF written > 0 AND written < cardinality(p_ids) THEN
      RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'a rate-limit row changed during a multi-policy consume; retry';
    END IF;
  END
  $fn$`;
}

const quoteLiteral = (s: string): string => `'${s.replaceAll("'", "''")}'`;

/** The name of the function that refuses a late statement (see {@link deadlineFunction}). */
export const deadlineFunctionName = (t: Tables): string => `"${t.schema}"."${t.prefix}check_deadline"`;

/**
 * The SQLSTATE of a statement refused as late. Classes beginning with I-Z are left to
 * implementations by the SQL standard, and PostgreSQL uses none starting with S.
 */
export const LATE_SQLSTATE = 'SLATE';

/**
 * `<prefix>check_deadline(deadline)`: true while this server's clock (`clock_timestamp()`,
 * epoch ms) is before `deadline`, else it raises `STOWAGE_LATE <server ms>` (SQLSTATE
 * {@link LATE_SQLSTATE}), which rolls the whole statement back. Every writing statement calls
 * it on each row it RETURNs, so it runs after that row's lock is taken and its write is done:
 * a caller who was told its call failed (the deadline passed while the statement waited in
 * transit, in a queue or on a lock) never sees it take effect. A plpgsql function rather than
 * a failing cast: the refusal gets its own SQLSTATE and a readable message, for the cost of a
 * function call per row (measured in the README). VOLATILE, so the planner evaluates it per
 * row, never once ahead of the scan.
 */
function deadlineFunction(t: Tables): string {
  return `CREATE OR REPLACE FUNCTION ${deadlineFunctionName(t)}(deadline bigint) RETURNS boolean
  LANGUAGE plpgsql VOLATILE AS $fn$
  DECLARE now_ms bigint;
  BEGIN
    IF deadline IS NULL THEN RETURN true; END IF;
    now_ms := floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint;
    IF now_ms >= deadline THEN
      RAISE EXCEPTION USING ERRCODE = '${LATE_SQLSTATE}',
        MESSAGE = 'STOWAGE_LATE ' || now_ms || ': the caller''s deadline passed ' || (now_ms - deadline) ||
          ' ms ago by this server''s clock; the statement was refused and rolled back';
    END IF;
    RETURN true;
  END
  $fn$`;
}

/** Version 2 of every component: the writing statements refuse to finish past the caller's deadline. */
const deadlineStep = (t: Tables): string[] => [deadlineFunction(t)];

// Keys are text in the "C" collation: byte order, and no locale work on every comparison.
const KEY = 'text COLLATE "C"';

const MIGRATIONS: Migrations = {
  sessions: [
    (t) => [
      `${t.create} ${t.table('sessions')} (
        id ${KEY} PRIMARY KEY,
        data bytea NOT NULL,
        version bigint NOT NULL,
        expires_at bigint NOT NULL,
        absolute_expires_at bigint,
        owner ${KEY}
      )`,
      `CREATE INDEX IF NOT EXISTS ${t.index('sessions_expires_at')} ON ${t.table('sessions')} (expires_at)`,
      `CREATE INDEX IF NOT EXISTS ${t.index('sessions_owner')} ON ${t.table('sessions')} (owner) WHERE owner IS NOT NULL`,
    ],
    deadlineStep,
  ],
  rate_limits: [
    (t) => [
      // One row per key and policy; the state's columns are core's RateLimitStateColumns.
      `${t.create} ${t.table('rate_limits')} (
        key ${KEY} NOT NULL,
        policy ${KEY} NOT NULL,
        mark bigint NOT NULL,
        used bigint NOT NULL,
        previous bigint NOT NULL,
        expires_at bigint NOT NULL,
        at bigint NOT NULL,
        PRIMARY KEY (key, policy)
      )`,
      `CREATE INDEX IF NOT EXISTS ${t.index('rate_limits_expires_at')} ON ${t.table('rate_limits')} (expires_at)`,
      rateLimitFunction(t),
    ],
    deadlineStep,
    // Version 3: the function gives each state the expiry of its own mark or window (core's
    // stateExpiresAt), not one counted from a clock reading that stepped back.
    (t) => [rateLimitFunction(t)],
    // Version 4: the function knows the anchored-window algorithm (variant codes 3 to 5).
    (t) => [rateLimitFunction(t)],
  ],
  idempotency: [
    (t) => [
      `${t.create} ${t.table('idempotency')} (
        scope ${KEY} NOT NULL,
        key ${KEY} NOT NULL,
        fingerprint ${KEY} NOT NULL,
        token ${KEY},
        response bytea,
        expires_at bigint NOT NULL,
        PRIMARY KEY (scope, key)
      )`,
      `CREATE INDEX IF NOT EXISTS ${t.index('idempotency_expires_at')} ON ${t.table('idempotency')} (expires_at)`,
    ],
    deadlineStep,
  ],
  csrf: [
    (t) => [
      `${t.create} ${t.table('csrf_tokens')} (
        hash ${KEY} PRIMARY KEY,
        session_id ${KEY} NOT NULL,
        expires_at bigint NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${t.index('csrf_tokens_session_id')} ON ${t.table('csrf_tokens')} (session_id)`,
      `CREATE INDEX IF NOT EXISTS ${t.index('csrf_tokens_expires_at')} ON ${t.table('csrf_tokens')} (expires_at)`,
    ],
    deadlineStep,
  ],
  locks: [
    // Rows outlive their leases: the fence counter must never restart.
    (t) => [
      `${t.create} ${t.table('locks')} (
        name ${KEY} PRIMARY KEY,
        token ${KEY},
        fence bigint NOT NULL,
        expires_at bigint NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${t.index('locks_expires_at')} ON ${t.table('locks')} (expires_at)`,
    ],
    deadlineStep,
    // Version 3: prune reads held leases by expiry; released rows (`expires_at = 0`, one per
    // name ever locked) stay out of the index, so a batch never walks past them.
    (t) => [
      `CREATE INDEX IF NOT EXISTS ${t.index('locks_held_expires_at')} ON ${t.table('locks')} (expires_at) WHERE token IS NOT NULL`,
      `DROP INDEX IF EXISTS "${t.schema}".${t.index('locks_expires_at')}`,
    ],
  ],
  jwks: [
    (t) => [
      `${t.create} ${t.table('jwks')} (
        uri ${KEY} PRIMARY KEY,
        jwks text NOT NULL,
        fetched_at bigint NOT NULL,
        expires_at bigint NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${t.index('jwks_expires_at')} ON ${t.table('jwks')} (expires_at)`,
    ],
    deadlineStep,
  ],
  streams: [
    (t) => [
      `${t.create} ${t.table('streams')} (
        name ${KEY} PRIMARY KEY,
        id ${KEY} NOT NULL UNIQUE,
        content_type text NOT NULL,
        media_type text NOT NULL,
        ttl_ms bigint,
        expires_at bigint,
        created_at bigint NOT NULL,
        accessed_at bigint NOT NULL,
        deadline bigint,
        closed boolean NOT NULL,
        last_seq ${KEY},
        tail bigint NOT NULL,
        forked_from ${KEY},
        fork_position bigint,
        fork_sub_offset bigint,
        ref_count bigint NOT NULL,
        deleted boolean NOT NULL
      )`,
      `CREATE INDEX IF NOT EXISTS ${t.index('streams_deadline')} ON ${t.table('streams')} (deadline) WHERE NOT deleted`,
      `${t.create} ${t.table('stream_messages')} (
        stream_id ${KEY} NOT NULL,
        position bigint NOT NULL,
        data bytea NOT NULL,
        PRIMARY KEY (stream_id, position)
      )`,
      `${t.create} ${t.table('stream_producers')} (
        stream_id ${KEY} NOT NULL,
        producer_id ${KEY} NOT NULL,
        epoch bigint NOT NULL,
        seq bigint NOT NULL,
        updated_at bigint NOT NULL,
        PRIMARY KEY (stream_id, producer_id)
      )`,
    ],
    deadlineStep,
    // Version 3: a source kept for its forks looks them up to see whether one still reads through it.
    (t) => [
      `CREATE INDEX IF NOT EXISTS ${t.index('streams_forked_from')} ON ${t.table('streams')} (forked_from) WHERE forked_from IS NOT NULL`,
    ],
  ],
};

/** The current version of each component's tables. */
export const SCHEMA_VERSIONS: Readonly<Record<SchemaComponent, number>> = Object.freeze(
  Object.fromEntries(Object.entries(MIGRATIONS).map(([k, v]) => [k, v.length])) as Record<SchemaComponent, number>,
);

/** The tables each component owns, for `unlogged` and for dropping. */
export const COMPONENT_TABLES: Readonly<Record<SchemaComponent, readonly string[]>> = Object.freeze({
  sessions: ['sessions'],
  rate_limits: ['rate_limits'],
  idempotency: ['idempotency'],
  csrf: ['csrf_tokens'],
  locks: ['locks'],
  jwks: ['jwks'],
  streams: ['streams', 'stream_messages', 'stream_producers'],
});

/** The DDL of every component at its current version, as strings. */
export function schema(options: { schema?: string; tablePrefix?: string; unlogged?: boolean } = {}): Record<SchemaComponent, string[]> {
  const t = tables(options.schema ?? 'public', options.tablePrefix ?? 'stowage_', options.unlogged);
  return Object.fromEntries(Object.entries(MIGRATIONS).map(([k, steps]) => [k, steps.flatMap((step) => step(t))])) as Record<
    SchemaComponent,
    string[]
  >;
}

export interface MigrateOptions {
  /** @default 'public' (created if missing) */
  schema?: string;
  /** @default 'stowage_' */
  tablePrefix?: string;
  /** @default every component */
  components?: readonly SchemaComponent[];
  /** Make the components' tables UNLOGGED (faster, not crash-safe). @default false */
  unlogged?: boolean;
}

/**
 * Creates or upgrades the tables of the given components. Idempotent and safe when several
 * replicas start at once: one transaction under an advisory lock per schema and prefix; each
 * component's version is recorded in `<prefix>schema_version` and only newer migrations run.
 * With `unlogged`, existing tables are switched to UNLOGGED (and back without it).
 */
export async function migrate(pool: Pool | ClientBase, options: MigrateOptions = {}): Promise<void> {
  const t = tables(options.schema ?? 'public', options.tablePrefix ?? 'stowage_', options.unlogged);
  const components = options.components ?? (Object.keys(MIGRATIONS) as SchemaComponent[]);
  // A Pool lends a client for the transaction; a client (connected) is used as it is.
  const isPool = 'totalCount' in pool;
  const client = isPool ? await (pool as Pool).connect() : (pool as ClientBase);
  try {
    await client.query('BEGIN');
    await client.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, [`stowage:migrate:${t.schema}.${t.prefix}`]);
    await client.query(`CREATE SCHEMA IF NOT EXISTS "${t.schema}"`);
    const versions = t.table('schema_version');
    await client.query(`CREATE TABLE IF NOT EXISTS ${versions} (component text PRIMARY KEY, version integer NOT NULL)`);
    for (const component of components) {
      const { rows } = await client.query(`SELECT version FROM ${versions} WHERE component = $1`, [component]);
      const from = (rows[0]?.version as number | undefined) ?? 0;
      const steps = MIGRATIONS[component];
      for (let v = from; v < steps.length; v++) for (const sql of steps[v]!(t)) await client.query(sql);
      if (from < steps.length) {
        await client.query(
          `INSERT INTO ${versions} (component, version) VALUES ($1, $2) ON CONFLICT (component) DO UPDATE SET version = excluded.version`,
          [component, steps.length],
        );
      }
      const persistence = options.unlogged ? 'u' : 'p';
      for (const name of COMPONENT_TABLES[component]) {
        const { rows: rel } = await client.query(
          `SELECT c.relpersistence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2`,
          [t.schema, `${t.prefix}${name}`],
        );
        if (rel[0] && rel[0].relpersistence !== persistence) {
          await client.query(`ALTER TABLE ${t.table(name)} SET ${options.unlogged ? 'UNLOGGED' : 'LOGGED'}`);
        }
      }
    }
    await client.query('COMMIT');
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    if (isPool) (client as PoolClient).release();
  }
}
