import type { CallOptions, SessionRecord, SessionSetOptions, SessionStore } from '@stowage/core';
import {
  STORE_CALLS,
  deadlineOf,
  postgresDialect,
  sessionRecordFromRow,
  validateDestroyByOwnerArgs,
  validateDuration,
  validateKey,
  validateRotateArgs,
  validateSessionSet,
  type SessionRow,
  sizeLimit,
  type SessionSizeOptions,
  type OwnOptionNames,
} from '@stowage/core/adapter-kit';
import { PgStoreBase, Sql, type PostgresStoreOptions } from './base.js';
import { pruneSql } from './prune.js';

const CALLS = STORE_CALLS.session;

export interface PostgresSessionStoreOptions extends PostgresStoreOptions, SessionSizeOptions {}

/** This store's options beyond the backend's. */
const OWN_OPTIONS: OwnOptionNames<PostgresSessionStoreOptions, PostgresStoreOptions> = { maxDataBytes: true };

/** {@link SessionStore} on PostgreSQL: one statement per operation. */
export class PostgresSessionStore extends PgStoreBase implements SessionStore {
  protected readonly component = 'sessions';
  private readonly maxDataBytes: number;
  private readonly sql: Record<'get' | 'set' | 'version' | 'touch' | 'destroy' | 'move' | 'clearExpired' | 'destroyByOwner', Sql>;

  constructor(options: PostgresSessionStoreOptions) {
    super('PostgresSessionStore', options, OWN_OPTIONS);
    this.maxDataBytes = sizeLimit(this.source, options, 'maxDataBytes');
    const T = this.t.table('sessions');
    const n = postgresDialect.now!;
    const N2 = n(2);
    const N3 = n(3);
    // The live version of an existing row: 0 once it has expired (it then counts as missing).
    const live = `(CASE WHEN t.expires_at > ${N3} THEN t.version ELSE 0 END)`;
    // A new row's expiries: idle ($4, ttlMs) and absolute ($5), the first capped by the second.
    const idleAt = `${N3} + $4::bigint`;
    const absoluteAt = `${N3} + $5::bigint`;
    // An existing row's idle expiry, capped by its absolute expiry.
    const capped = (idle: string) => `LEAST(${idle}, COALESCE(absolute_expires_at, ${idle}))`;
    this.sql = {
      get: new Sql(`SELECT data, version, expires_at, absolute_expires_at, owner FROM ${T} WHERE id = $1::text AND expires_at > ${N2}`),
      // Insert, replace, or (with ifVersion) compare-and-swap, in one statement. An expired
      // row is replaced as if new: version 1, its owner and absolute expiry forgotten.
      set: new Sql(
        `INSERT INTO ${T} AS t (id, data, version, expires_at, absolute_expires_at, owner)
         SELECT $1::text, $2::bytea, 1, LEAST(${idleAt}, COALESCE(${absoluteAt}, ${idleAt})), ${absoluteAt}, $7::text
         WHERE $6::bigint IS NULL OR $6::bigint = 0 OR EXISTS (SELECT 1 FROM ${T} WHERE id = $1::text)
         ON CONFLICT (id) DO UPDATE SET
           data = excluded.data,
           version = ${live} + 1,
           absolute_expires_at = CASE WHEN t.expires_at > ${N3} THEN t.absolute_expires_at ELSE excluded.absolute_expires_at END,
           owner = CASE WHEN t.expires_at > ${N3} THEN COALESCE($7::text, t.owner) ELSE $7::text END,
           expires_at = CASE WHEN t.expires_at > ${N3}
             THEN LEAST(${N3} + $4::bigint, COALESCE(t.absolute_expires_at, ${N3} + $4::bigint))
             ELSE excluded.expires_at END
         WHERE $6::bigint IS NULL OR ${live} = $6::bigint
         RETURNING version, ${this.inTime(8)}`,
        true,
      ),
      version: new Sql(`SELECT version FROM ${T} WHERE id = $1::text AND expires_at > ${N2}`),
      touch: new Sql(
        `UPDATE ${T} SET expires_at = ${capped(`${N2} + $3::bigint`)}
         WHERE id = $1::text AND expires_at > ${N2} RETURNING ${this.inTime(4)} AS ok`,
        true,
      ),
      destroy: new Sql(`DELETE FROM ${T} WHERE id = $1::text AND expires_at > ${N2} RETURNING ${this.inTime(3)} AS ok`, true),
      // rotate: the new id must not be taken; a unique violation tells us it is (see rotate()).
      move: new Sql(
        `UPDATE ${T} SET id = $3::text,
           expires_at = CASE WHEN $4::bigint IS NULL THEN expires_at ELSE ${capped(`${N2} + $4::bigint`)} END
         WHERE id = $1::text AND expires_at > ${N2} RETURNING ${this.inTime(5)} AS ok`,
        true,
      ),
      clearExpired: new Sql(`DELETE FROM ${T} WHERE id = $1::text AND expires_at <= ${N2} RETURNING ${this.inTime(3)} AS ok`, true),
      destroyByOwner: new Sql(
        `WITH gone AS (DELETE FROM ${T} WHERE owner = $1::text AND expires_at > ${N2} ` +
          `AND ($3::text IS NULL OR id <> $3::text) RETURNING ${this.inTime(4)})
         SELECT count(*)::bigint AS n FROM gone`,
        true,
      ),
    };
    this.instrument('session');
  }

  protected pruneSql(): Sql[] {
    return [pruneSql(this.t.table('sessions'), postgresDialect.now!(1))];
  }

  async get(id: string, opts?: CallOptions): Promise<SessionRecord | undefined> {
    validateKey(this.source, 'id', id);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.get));
    const [row] = await this.query<SessionRow>(this.sql.get, [id, this.nowParam()], budget);
    if (row === undefined) return undefined;
    return sessionRecordFromRow(row);
  }

  async set(id: string, data: Uint8Array, opts: SessionSetOptions): Promise<{ version: number }> {
    const v = validateSessionSet(this.source, id, data, opts, this.maxDataBytes);
    const ttl = v.ttlMs;
    const abs = v.absoluteTtlMs ?? null;
    const ifVersion = v.ifVersion ?? null;
    const owner = v.owner ?? null;
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.set));
    const now = this.nowParam();
    const bytes = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const [row] = await this.query<{ version: number }>(this.sql.set, [id, bytes, now, ttl, abs, ifVersion, owner], budget);
    if (row !== undefined) return { version: row.version };
    const [current] = await this.query<{ version: number }>(this.sql.version, [id, now], budget);
    const currentVersion = current?.version ?? 0;
    throw this.source.error('CONFLICT', `session version is ${currentVersion}, not ${ifVersion}`, { details: { currentVersion } });
  }

  async touch(id: string, ttlMs: number, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'id', id);
    const ttl = validateDuration(this.source, 'ttlMs', ttlMs);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.touch));
    return (await this.query(this.sql.touch, [id, this.nowParam(), ttl], budget)).length > 0;
  }

  async destroy(id: string, opts?: CallOptions): Promise<boolean> {
    validateKey(this.source, 'id', id);
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.destroy));
    return (await this.query(this.sql.destroy, [id, this.nowParam()], budget)).length > 0;
  }

  async rotate(oldId: string, newId: string, opts?: { ttlMs?: number } & CallOptions): Promise<boolean> {
    const ttl = validateRotateArgs(this.source, oldId, newId, opts) ?? null;
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.rotate));
    const now = this.nowParam();
    // One UPDATE moves the row. If the new id holds a row, the unique index refuses it: an
    // expired row is cleared and the move retried; a live one is a CONFLICT.
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        return (await this.query(this.sql.move, [oldId, now, newId, ttl], budget)).length > 0;
      } catch (err) {
        if ((err as { cause?: { code?: string } }).cause?.code !== '23505') throw err;
        if ((await this.query(this.sql.clearExpired, [newId, now], budget)).length === 0) {
          throw this.source.error('CONFLICT', 'a live session already has the new id');
        }
      }
    }
    throw this.source.error('CONFLICT', 'the new id kept being taken');
  }

  async destroyByOwner(owner: string, opts?: { except?: string } & CallOptions): Promise<number> {
    const except = validateDestroyByOwnerArgs(this.source, owner, opts) ?? null;
    const budget = this.budget(deadlineOf(this.source, opts, CALLS.destroyByOwner));
    const [row] = await this.query<{ n: number }>(this.sql.destroyByOwner, [owner, this.nowParam(), except], budget);
    return row?.n ?? 0;
  }
}
