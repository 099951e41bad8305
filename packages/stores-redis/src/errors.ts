import { StowageError } from '@stowage/core';
import type { ErrorSource } from '@stowage/core/adapter-kit';
import { ClosedBeforeSend, SendTimePassed } from './clients/write-batches.js';
import type { Connection } from './connection.js';

// The server is up but refuses this store: a wrong or missing password (WRONGPASS, NOAUTH),
// or an ACL user that may not run the store's commands or touch its keys (NOPERM). Nothing
// the caller sent is at fault and nothing ran: the store is unavailable until that is fixed.
const LOGIN_REFUSED = /\b(?:WRONGPASS|NOAUTH)\b/;
const NO_PERMISSION = /\bNOPERM\b/;
const CORRUPT = /^(?:STOWAGE_CORRUPT|WRONGTYPE)\b/;
// The server is up but will not serve now: a failover made it a replica (READONLY), its memory
// is full (OOM), a script holds it (BUSY), too few replicas (NOREPLICAS), or it cannot persist
// (MISCONF). An outage to the caller, as a server that is down.
// The reply's own code, at its start: an echo of a key or argument later in a message is not one.
const REFUSES_NOW = /^(?:READONLY|OOM|BUSY|NOREPLICAS|MISCONF)\b/;
const UNAVAILABLE = new RegExp(
  [
    'Connection is closed',
    'ECONNREFUSED',
    'ECONNRESET',
    'EPIPE',
    'ETIMEDOUT',
    'ENOTFOUND',
    'EHOSTUNREACH',
    'max retries',
    'MaxRetriesPerRequest',
    'CLUSTERDOWN',
    'TRYAGAIN',
    'LOADING',
    'MASTERDOWN',
    "Stream isn't writeable",
    'enableOfflineQueue',
    'Failed to refresh slots cache',
    'None of startup nodes is available',
    // node-redis
    'The client is closed',
    'The client is offline',
    'Socket closed unexpectedly',
    'Connection timeout',
    'All the root nodes are unavailable',
  ].join('|'),
  'i',
);

/** A client's error as a store call rejects with it: a `StowageError` with the code that says what happened. */
export function mapError(source: ErrorSource, err: unknown, connection: Connection): StowageError {
  if (err instanceof StowageError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (lateAt(err) !== undefined) {
    return source.error('TIMEOUT', 'the call reached Redis after its deadline, so Redis did not run it', { cause: err });
  }
  if (err instanceof SendTimePassed) return notSent(source.error('TIMEOUT', err.message, { cause: err }));
  if (err instanceof ClosedBeforeSend) return notSent(source.error('UNAVAILABLE', err.message, { cause: err }));
  // A key under the store's prefix that it did not write: a value its script cannot read
  // (`STOWAGE_CORRUPT`), or a key of another type (WRONGTYPE).
  if (CORRUPT.test(message)) return source.error('CORRUPT', `a record is not as this store writes it (${message})`, { cause: err });
  if (LOGIN_REFUSED.test(message)) {
    return source.error('UNAVAILABLE', `Redis refused the login: check the user and password of the connection (${message})`, {
      cause: err,
    });
  }
  if (NO_PERMISSION.test(message)) {
    return source.error('UNAVAILABLE', `the Redis user may not run this store's commands or use its keys: check its ACL (${message})`, {
      cause: err,
    });
  }
  if (REFUSES_NOW.test(message)) {
    return source.error('UNAVAILABLE', `Redis refused the call: it is not serving now (${message})`, { cause: err });
  }
  if (UNAVAILABLE.test(message) || UNAVAILABLE.test(String((err as { code?: unknown })?.code)) || connection.state() === 'end') {
    return source.error('UNAVAILABLE', `Redis is unreachable or the connection was lost (${message})`, { cause: err });
  }
  return source.error('INTERNAL', `unexpected Redis error: ${message}`, { cause: err });
}

/** The rejections of calls that sent nothing: their deadline had passed, or the clock sample before them failed. */
export const unsent = new WeakSet<Error>();

export function notSent(err: StowageError): StowageError {
  unsent.add(err);
  return err;
}

/**
 * True when `err` (as a store call rejects) certainly means the call did not run: it was
 * never sent, or Redis refused it as late. Any other failure (an answer that did not come
 * in time) may hide a call that ran.
 */
export function didNotRun(err: unknown): boolean {
  return err instanceof StowageError && (unsent.has(err) || lateAt(err.cause) !== undefined);
}

/** The server time of a `STOWAGE_LATE` refusal (see `lib.lua`), or undefined for any other error. */
export function lateAt(err: unknown): number | undefined {
  const m = err instanceof Error ? /STOWAGE_LATE (\d+)/.exec(err.message) : null;
  return m === null ? undefined : Number(m[1]);
}
