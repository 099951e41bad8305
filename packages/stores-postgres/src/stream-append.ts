// The common append on PostgreSQL in one statement: no producer and no Stream-Seq, to a live
// stream that is open. One round trip (the row lock, the messages, the stream row and the
// notification of waiters in other processes, committed together) where the engine's
// transaction takes six. Anything else (a refusal, a producer, a sequence) goes to the engine.

import { PG_SERVER_NOW } from '@stowage/core/adapter-kit';
import { Sql } from './base.js';

/**
 * $1 name, $2 media type (NULL: any), $3 messages (bytea[]), $4 their count, $5 now (NULL: the
 * server's clock), $6 close after, $7 notification channel, $8 the deadline (`checked`).
 * One row (the stream's id, new tail and closed state) when it appended; none when the engine must decide.
 */
export function appendStatement(S: string, M: string, inTime: (n: number) => string): Sql {
  return new Sql(
    `WITH s AS (
       SELECT id, tail, COALESCE($5::bigint, ${PG_SERVER_NOW}) AS now, deadline FROM ${S}
       WHERE name = $1::text AND NOT deleted AND NOT closed AND ($2::text IS NULL OR media_type = $2::text)
       FOR UPDATE
     ), live AS (
       SELECT id, tail, now FROM s WHERE deadline IS NULL OR deadline > now
     ), ins AS (
       INSERT INTO ${M} (stream_id, position, data)
       SELECT live.id, live.tail + u.i, u.d FROM live, unnest($3::bytea[]) WITH ORDINALITY AS u (d, i)
     ), upd AS (
       UPDATE ${S} AS t SET tail = live.tail + $4::bigint, closed = $6::boolean,
         accessed_at = greatest(t.accessed_at, live.now),
         deadline = CASE WHEN t.ttl_ms IS NULL THEN t.expires_at
                         ELSE least(t.expires_at, greatest(t.accessed_at, live.now) + t.ttl_ms) END
       FROM live WHERE t.id = live.id
       RETURNING t.id, t.tail, t.closed
     )
     SELECT upd.id, upd.tail, upd.closed, ${inTime(8)} AS ok FROM upd, LATERAL (SELECT pg_notify($7::text, $1::text) WHERE upd.tail IS NOT NULL) AS n`,
    true,
  );
}
