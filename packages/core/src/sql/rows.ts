import type { SessionRecord } from '../contracts/session.js';
import type { StoredStream } from '../streams/backend.js';

/** A stream row of the SQL stores (booleans are `0`/`1` in SQLite, `boolean` in PostgreSQL). */
export interface StreamRow {
  name: string;
  id: string;
  content_type: string;
  media_type: string;
  ttl_ms: number | null;
  expires_at: number | null;
  created_at: number;
  accessed_at: number;
  deadline: number | null;
  closed: boolean | number;
  last_seq: string | null;
  tail: number;
  forked_from: string | null;
  fork_position: number | null;
  fork_sub_offset: number | null;
  ref_count: number;
  deleted: boolean | number;
}

const n = <T>(v: T | null): T | undefined => (v === null ? undefined : v);
const truthy = (v: boolean | number): boolean => v === true || v === 1;

/** The engine's view of a stream row. */
export function storedStreamFromRow(r: StreamRow): StoredStream {
  return {
    id: r.id,
    name: r.name,
    contentType: r.content_type,
    mediaType: r.media_type,
    ttlMs: n(r.ttl_ms),
    expiresAt: n(r.expires_at),
    createdAt: r.created_at,
    accessedAt: r.accessed_at,
    deadline: n(r.deadline),
    closed: truthy(r.closed),
    lastSeq: n(r.last_seq),
    tail: r.tail,
    forkedFrom: n(r.forked_from),
    forkPosition: n(r.fork_position),
    forkSubOffset: n(r.fork_sub_offset),
    refCount: r.ref_count,
    deleted: truthy(r.deleted),
  };
}

/** A session row of the SQL stores. */
export interface SessionRow {
  data: Uint8Array;
  version: number;
  expires_at: number;
  absolute_expires_at: number | null;
  owner: string | null;
}

export function sessionRecordFromRow(row: SessionRow): SessionRecord {
  const record: SessionRecord = { data: row.data, version: row.version, expiresAt: row.expires_at };
  if (row.absolute_expires_at !== null) record.absoluteExpiresAt = row.absolute_expires_at;
  if (row.owner !== null) record.owner = row.owner;
  return record;
}
