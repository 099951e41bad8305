import { Sql } from './base.js';

/**
 * The batch statements of `prune()`. Each takes (now or NULL, batch size, lock name,
 * blocking) and runs under a transaction-scoped advisory lock, so only one replica prunes a
 * table at a time; a non-blocking call that finds the lock taken changes nothing.
 *
 * Why this shape: its cost follows the expired rows whatever the planner's statistics. The
 * batch is the first rows of the expiry index (`ORDER BY expires_at LIMIT`, which a plan can
 * answer from the index's low end after reading about a batch of entries, where a scan of
 * the table reads it all), and the rows are then changed by their `ctid` (a TID scan), so no
 * join can pick a scan of the table. The outer `expires_at + 0 <= now` re-checks a row that
 * a concurrent update moved (the TID scan follows the new version without re-checking its
 * expiry); `+ 0` keeps it from being an index condition that would compete with the TIDs.
 */
const lock = `lock AS (
    SELECT CASE WHEN $4::boolean THEN pg_advisory_xact_lock(hashtextextended($3, 0)) IS NOT NULL
                ELSE pg_try_advisory_xact_lock(hashtextextended($3, 0)) END AS held
  )`;

/** `WHERE` of a batch: the first `$2` rows of `table` by `expires_at` that are due by `now` and match `also`. */
function firstExpired(table: string, now: string, also: string): string {
  return `(SELECT held FROM lock) AND ctid = ANY(ARRAY(
      SELECT ctid FROM ${table} WHERE ${also} expires_at <= ${now} ORDER BY expires_at LIMIT $2::bigint
    )) AND ${also} expires_at + 0 <= ${now}`;
}

/** Deletes a batch of rows whose `expires_at` is at or before `now` (an SQL expression of $1). */
export function pruneSql(table: string, now: string): Sql {
  return new Sql(`WITH ${lock}, gone AS (
    DELETE FROM ${table} WHERE ${firstExpired(table, now, '')} RETURNING 1
  )
  SELECT count(*)::bigint AS n FROM gone`);
}

/**
 * Clears the tokens of a batch of expired leases, keeping their rows (and fences). Their
 * index holds held leases only (`WHERE token IS NOT NULL`): released rows stay out of it.
 */
export function pruneLocksSql(table: string, now: string): Sql {
  return new Sql(`WITH ${lock}, cleared AS (
    UPDATE ${table} SET token = NULL, expires_at = 0
    WHERE ${firstExpired(table, now, 'token IS NOT NULL AND')} RETURNING 1
  )
  SELECT count(*)::bigint AS n FROM cleared`);
}
