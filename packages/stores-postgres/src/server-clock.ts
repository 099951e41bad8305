import { ServerClock, steadyNow } from '@stowage/core/adapter-kit';
import type pg from 'pg';

/** The server's clock in epoch ms (`clock_timestamp()`: the time of reading, not of the transaction's start). */
export const CLOCK_SAMPLE_SQL = 'SELECT floor(extract(epoch from clock_timestamp()) * 1000)::bigint AS ms';

/** One sample of a pool's server clock, with our clock (`steadyNow`) read on receipt (so a lower bound of the offset). */
function sampleOffset(pool: pg.Pool, limitMs: number): Promise<number> {
  return pool
    .query<{ ms: string }>({ text: CLOCK_SAMPLE_SQL, query_timeout: limitMs } as pg.QueryConfig)
    .then((result) => Number(result.rows[0]!.ms) - steadyNow());
}

/**
 * One {@link ServerClock} per pool, shared by every store on it: the offset belongs to the
 * server the pool reaches, so seven stores on one pool sample once (one extra round trip on
 * the first writing call, one `SELECT` a minute), and what one learns from a refusal serves all.
 */
const clocks = new WeakMap<pg.Pool, ServerClock>();

export function serverClockOf(pool: pg.Pool): ServerClock {
  let clock = clocks.get(pool);
  if (clock === undefined) {
    clock = new ServerClock((limitMs) => sampleOffset(pool, limitMs));
    clocks.set(pool, clock);
  }
  return clock;
}
