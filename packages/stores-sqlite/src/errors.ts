import { StowageError } from '@stowage/core';
import type { ErrorSource } from '@stowage/core/adapter-kit';
import type { Database } from 'better-sqlite3';
import { isLockError, type LockEnd } from './lock-wait.js';

/** SQLite's result codes, as a StowageError's code: damaged file, unwritable, locked. */
const CORRUPT = /^SQLITE_(CORRUPT|NOTADB)/;
const GONE = /^SQLITE_(IOERR|CANTOPEN|FULL|READONLY)/;

/** The `TIMEOUT` of a lock error (SQLITE_BUSY, SQLITE_LOCKED); `end`: why it ended the call (see {@link LockWait}). */
function lockTimeout(source: ErrorSource, code: string, err: unknown, end: LockEnd | undefined): StowageError {
  const cause = { cause: err };
  switch (end?.why) {
    case undefined:
      return source.error('TIMEOUT', `the database stayed locked by another connection (${code})`, cause);
    case 'deadline':
      return source.error(
        'TIMEOUT',
        `the database stayed locked by another connection until the caller's deadline (${code}); the call changed nothing`,
        { ...cause, details: { deadline: end.deadline } },
      );
    case 'waited':
      return source.error(
        'TIMEOUT',
        `the database stayed locked by another connection (${code}) past busyTimeoutMs (${end.ms} ms); the call changed nothing`,
        cause,
      );
    case 'in-transaction':
      return source.error(
        'TIMEOUT',
        `the database is locked by another connection (${code}); inside a transaction of this connection a call does not wait ` +
          'for the lock (a later try would run outside that transaction); the call changed nothing',
        cause,
      );
    case 'wrote':
      return source.error(
        'TIMEOUT',
        `the database was locked by another connection (${code}) after the call had changed rows, which stay changed`,
        cause,
      );
  }
}

/** Maps a driver error to a StowageError (StowageErrors pass through). `end`: why a lock error ended the call. */
export function mapError(source: ErrorSource, db: Database, err: unknown, end?: LockEnd): StowageError {
  if (err instanceof StowageError) return err;
  const code = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (!db.open) return source.error('UNAVAILABLE', 'the database connection is closed', { cause: err });
  if (typeof code === 'string') {
    if (isLockError(err)) return lockTimeout(source, code, err, end);
    if (CORRUPT.test(code)) return source.error('CORRUPT', `the database file is damaged (${code})`, { cause: err });
    if (GONE.test(code)) return source.error('UNAVAILABLE', `the database cannot be written (${code})`, { cause: err });
  }
  return source.error('INTERNAL', `unexpected database error: ${message}`, { cause: err });
}
