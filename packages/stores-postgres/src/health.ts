import type { HealthResult } from '@stowage/core';
import { measureHealth } from '@stowage/core/adapter-kit';
import type pg from 'pg';

/** Readiness probe for a pg pool: `{ ok, latencyMs, error? }`, never throws. */
export function postgresHealth(pool: pg.Pool, timeoutMs = 2000): Promise<HealthResult> {
  return measureHealth(() => pool.query({ text: 'SELECT 1', query_timeout: timeoutMs } as pg.QueryConfig), timeoutMs);
}
