import type { RateLimitVariant } from '../rate-limit/state.js';
import type { Inputs, Outcome, SqlDialect } from './rate-limit.js';

/** 2^52, the longest window a `backoff` makes (core's `anchoredBackoffMs`). */
const LONGEST = '4503599627370496';

/**
 * The `anchored-window` arithmetic of `evaluateRateLimit` in SQL integers, for one
 * `onExceed`: `x.mark`, `x.used`, `x.previous` are the live state's start, count and length
 * (NULL when there is none), `x.cap` the threshold. `<<` and `>>` are 64-bit shifts in both
 * SQLite and PostgreSQL; the shift count is at most 52 where they run.
 */
export function anchoredOutcome(variant: RateLimitVariant, d: SqlDialect, x: Inputs): Outcome {
  const { now, lim, win, cap, cost } = x;
  const none = `${x.mark} IS NULL`;
  const start = `(CASE WHEN ${none} THEN ${now} ELSE ${x.mark} END)`;
  const length = `(CASE WHEN ${none} THEN ${win} ELSE ${x.previous} END)`;
  const after = `((CASE WHEN ${none} THEN 0 ELSE ${x.used} END) + ${cost})`;
  // `cap <= lim` always holds (the threshold is at most the limit); it keeps `cap` referenced.
  const fits = `${after} <= ${lim} AND ${cap} <= ${lim}`;
  if (variant === 'anchored-window:keep') return { fits, mark: start, used: after, previous: length, expires: `${start} + ${length}` };
  const over = `${after} > ${cap}`;
  const mark = `(CASE WHEN ${over} THEN ${d.greatest(now, start)} ELSE ${start} END)`;
  const k = `CAST(${after} - ${cap} - 1 AS integer)`;
  const longer =
    variant === 'anchored-window:restart'
      ? win
      : // CASE, not OR: PostgreSQL may evaluate OR's operands in any order, and the cast fails past 2^31.
        `(CASE WHEN ${after} - ${cap} - 1 > 52 THEN ${LONGEST} WHEN ${win} > (${LONGEST} >> ${k}) THEN ${LONGEST} ELSE ${win} << ${k} END)`;
  const previous = `(CASE WHEN ${over} THEN ${longer} ELSE ${length} END)`;
  return { fits, mark, used: after, previous, expires: `${mark} + ${previous}` };
}
