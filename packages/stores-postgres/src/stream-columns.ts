import type { StoredStream } from '@stowage/core/adapter-kit';

/** A stream's row, as the parameters of its INSERT or UPDATE: in the order of {@link STREAM_COLUMNS}. */
export const streamValues = (s: StoredStream): unknown[] => [
  s.name,
  s.id,
  s.contentType,
  s.mediaType,
  s.ttlMs ?? null,
  s.expiresAt ?? null,
  s.createdAt,
  s.accessedAt,
  s.deadline ?? null,
  s.closed,
  s.lastSeq ?? null,
  s.tail,
  s.forkedFrom ?? null,
  s.forkPosition ?? null,
  s.forkSubOffset ?? null,
  s.refCount,
  s.deleted,
];
/** The columns of the streams table a stream's row sets, with the type each parameter is cast to. */
export const STREAM_COLUMNS: readonly (readonly [string, string])[] = [
  ['name', 'text'],
  ['id', 'text'],
  ['content_type', 'text'],
  ['media_type', 'text'],
  ['ttl_ms', 'bigint'],
  ['expires_at', 'bigint'],
  ['created_at', 'bigint'],
  ['accessed_at', 'bigint'],
  ['deadline', 'bigint'],
  ['closed', 'boolean'],
  ['last_seq', 'text'],
  ['tail', 'bigint'],
  ['forked_from', 'text'],
  ['fork_position', 'bigint'],
  ['fork_sub_offset', 'bigint'],
  ['ref_count', 'bigint'],
  ['deleted', 'boolean'],
];
