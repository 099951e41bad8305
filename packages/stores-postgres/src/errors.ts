import { StowageError } from '@stowage/core';
import type { ErrorSource } from '@stowage/core/adapter-kit';
import { LATE_SQLSTATE } from './schema.js';

/** The server time of a `STOWAGE_LATE` refusal (see `schema.ts`), or undefined for any other error. */
export function lateAt(err: unknown): number | undefined {
  if ((err as { code?: unknown })?.code !== LATE_SQLSTATE) return undefined;
  const m = /STOWAGE_LATE (\d+)/.exec((err as Error).message);
  return m === null ? undefined : Number(m[1]);
}

const UNAVAILABLE_CODES = /^(08|57P0[1-3]|53300|57P05)/;
// Class 28 (invalid authorization: no such role, wrong password, no pg_hba.conf entry) and
// 3D000 (no such database): the server is up but this store cannot log into it.
const LOGIN_REFUSED = /^28/;
const NO_DATABASE = '3D000';
const UNAVAILABLE_MESSAGES = new RegExp(
  [
    'Connection terminated',
    'not queryable',
    'ECONNREFUSED',
    'ECONNRESET',
    'EPIPE',
    'ENOTFOUND',
    'EHOSTUNREACH',
    'ETIMEDOUT',
    'timeout exceeded when trying to connect',
    'Cannot use a pool after calling end',
    'the database system is (starting up|shutting down)',
  ].join('|'),
  'i',
);

/** Maps a pg or socket error to a StowageError (StowageErrors pass through). */
export function mapError(source: ErrorSource, err: unknown): StowageError {
  if (err instanceof StowageError) return err;
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === LATE_SQLSTATE) {
    return source.error('TIMEOUT', `PostgreSQL refused the call: its deadline passed before the statement finished (${message})`, {
      cause: err,
    });
  }
  if (typeof code === 'string' && code === '57014')
    return source.error('TIMEOUT', `the statement was cancelled (${message})`, { cause: err });
  if (typeof code === 'string' && LOGIN_REFUSED.test(code)) {
    return source.error('UNAVAILABLE', `PostgreSQL refused the login: check the role and password of the connection (${message})`, {
      cause: err,
    });
  }
  if (code === NO_DATABASE) {
    return source.error('UNAVAILABLE', `PostgreSQL has no such database: check the database name of the connection (${message})`, {
      cause: err,
    });
  }
  if (/Query read timeout/.test(message)) return source.error('TIMEOUT', 'PostgreSQL did not answer in time', { cause: err });
  if (
    (typeof code === 'string' && UNAVAILABLE_CODES.test(code)) ||
    UNAVAILABLE_MESSAGES.test(message) ||
    UNAVAILABLE_MESSAGES.test(String(code))
  ) {
    return source.error('UNAVAILABLE', `PostgreSQL is unreachable or the connection was lost (${message})`, { cause: err });
  }
  return source.error('INTERNAL', `unexpected PostgreSQL error: ${message}`, { cause: err });
}
