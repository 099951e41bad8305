import type { HealthResult } from '@stowage/core';
import { measureHealth } from '@stowage/core/adapter-kit';
import type pg from 'pg';

/**
 * Whether a pg pool's server answers: `SELECT 1`; `{ ok, latencyMs, error? }`, never throws. It
 * passes a read-only server and a locked table: a store's `health()` checks writes.
 */
export function postgresHealth(pool: pg.Pool, timeoutMs = 2000): Promise<HealthResult> {
  return measureHealth(() => pool.query({ text: 'SELECT 1', query_timeout: timeoutMs } as pg.QueryConfig), timeoutMs);
}
