// Reads of the PostgreSQL stream store in one statement: a read's messages come back as one
// row (their bytes joined, and where each ends), and a plain read or a waiter's look is one
// round trip instead of a transaction of five.

import type { StreamReadResult } from '@stowage/core';
import {
  type MessageRun,
  PG_SERVER_NOW,
  readResult,
  type StreamRow,
  storedStreamFromRow,
  type TailSnapshot,
} from '@stowage/core/adapter-kit';
import { Sql } from './base.js';

/**
 * Own messages of one stream, `$2 < position <= $3`, at most `$5` of them and `$4` bytes (the
 * first always), as one row: `data` the bytes back to back, `ends` where each message ends
 * (see {@link runFromRow}); the running sum over `ROWS` (positions are unique) keeps no peers.
 * Positions are dense (an append inserts tail + 1, tail + 2...), so the range also stops at
 * `after + maxMessages`: the index range then holds at most `maxMessages` rows whatever plan is
 * picked. Without it, a planner with stale statistics (a freshly loaded stream) chose a bitmap
 * scan of every row to the tail plus a sort: 1.5 s from 10 % of 1,000,000 messages, 1 ms at 90 %.
 */
const runOf = (M: string, id: string, after: string, upTo: string, maxBytes: string, maxMessages: string): string =>
  `SELECT encode(string_agg(data, ''::bytea ORDER BY position), 'base64') AS data,
     string_agg(int4send(upto::int4), ''::bytea ORDER BY position) AS ends
   FROM (
     SELECT position, data, octet_length(data) AS size, sum(octet_length(data)) OVER (ORDER BY position ROWS UNBOUNDED PRECEDING) AS upto
     FROM ${M} WHERE stream_id = ${id} AND position > ${after} AND position <= LEAST(${upTo}, ${after} + ${maxMessages})
     ORDER BY position LIMIT ${maxMessages}
   ) AS w WHERE upto <= ${maxBytes} OR upto = size`;

export interface ReadStatements {
  /** A backend read (inside the engine's operations): $1 stream id, $2 after, $3 up to, $4 max bytes, $5 max messages. */
  run: Sql;
  /**
   * A whole read: the stream row, the clock, and, when the read needs nothing else (a live
   * stream without an idle TTL to renew, read from its own messages), its run of messages.
   * $1 name, $2 from position, $3 max bytes, $4 max messages, $5 now (NULL: the server's clock).
   */
  read: Sql;
  /** A waiter's look: $1 name, $2 now (NULL: the server's clock). */
  look: Sql;
}

export function readStatements(S: string, M: string): ReadStatements {
  const now = (p: string) => `COALESCE(${p}::bigint, ${PG_SERVER_NOW})`;
  return {
    run: new Sql(runOf(M, '$1::text', '$2::bigint', '$3::bigint', '$4::bigint', '$5::bigint')),
    read: new Sql(
      `SELECT s.*, ${now('$5')} AS now, r.data AS run_data, r.ends AS run_ends
       FROM ${S} s LEFT JOIN LATERAL (${runOf(M, 's.id', '$2::bigint', 's.tail', '$3::bigint', '$4::bigint')}) r
         ON NOT s.deleted AND s.ttl_ms IS NULL AND $2::bigint <= s.tail AND (s.fork_position IS NULL OR $2::bigint >= s.fork_position)
       WHERE s.name = $1::text`,
    ),
    look: new Sql(`SELECT id, tail, closed, deadline, deleted, ${now('$2')} AS now FROM ${S} WHERE name = $1::text`),
  };
}

/** A run's row: its bytes in base64, where each message ends as a bytea. */
export type RunRow = { data: string | null; ends: Buffer | null };

/**
 * A run as PostgreSQL answers it (no rows: NULLs). The bytes come in base64, not as a bytea:
 * a bytea travels as hex text (twice its size), and the 64 KiB catch-up read spent its time
 * there (100 x 64 KiB: p50 106 against 140 ms; PostgreSQL's line breaks are kept, Node's
 * decoder skips them). `pg` cannot ask for binary results: it decodes every field as UTF-8.
 * Where each message ends comes as 4-byte big-endian integers back to back: parsing a text
 * `int4[]` of 1,000 elements was 5 % of a catch-up read's CPU time in the server.
 */
export function runFromRow(row: RunRow | undefined): MessageRun {
  if (row === undefined || row.data === null || row.ends === null) return { bytes: new Uint8Array(0), ends: [] };
  const packed = row.ends;
  const ends: number[] = new Array(packed.byteLength >>> 2);
  for (let i = 0; i < ends.length; i++) ends[i] = packed.readInt32BE(i * 4);
  return { bytes: Buffer.from(row.data, 'base64'), ends };
}

export type ReadRow = StreamRow & { now: number; run_data: string | null; run_ends: Buffer | null };

/**
 * The answer of a one-statement read (`run`: its messages from `position`), or `undefined` when the read needs the engine: a
 * missing, deleted or expired stream (for its error), an idle TTL to renew (a write), an
 * offset past the tail, or an offset in a fork's source.
 */
export function oneStatementRead(
  row: ReadRow | undefined,
  position: number,
  run: MessageRun,
  readOnly: boolean,
): StreamReadResult | undefined {
  if (row === undefined) return undefined;
  const s = storedStreamFromRow(row);
  if (s.deleted || (s.deadline !== undefined && s.deadline <= row.now) || s.ttlMs !== undefined) return undefined;
  if (position > s.tail || (s.forkPosition !== undefined && position < s.forkPosition)) return undefined;
  return readResult(s, position, run, readOnly);
}

export type LookRow = { id: string; tail: number; closed: boolean; deadline: number | null; deleted: boolean; now: number };

/** A waiter's snapshot from a look's row: `undefined` unless live (a hidden source is missing too). */
export function lookSnapshot(row: LookRow | undefined): TailSnapshot | undefined {
  if (row === undefined || row.deleted) return undefined;
  const expiresAt = row.deadline === null ? undefined : row.deadline;
  if (expiresAt !== undefined && expiresAt <= row.now) return undefined;
  return { id: row.id, tail: row.tail, closed: row.closed, expiresAt, now: row.now };
}
