import type { IncomingMessage } from 'node:http';
import type { StowageError, StowageErrorCode } from '@stowage/core';
import { requestPath } from './origin.js';
import { nameOf } from './route.js';
import { isReserved } from './subscription-routes.js';

/** What a request to a stream asks of the store, by its method (protocol section 5). */
type Operation = 'read' | 'append' | 'create' | 'delete';

const OPERATIONS: Record<string, Operation> = { GET: 'read', HEAD: 'read', POST: 'append', PUT: 'create', DELETE: 'delete' };

/**
 * The messages of a store that is down or late, per operation. A late write may have been
 * stored with its answer lost (the stores refuse a write that reaches them past its deadline,
 * but not one whose answer came back too late), so each write says what makes its retry safe.
 * None names a class, a host or a port: the details go to the log.
 */
const UNAVAILABLE: Record<Operation | 'other', string> = {
  read: 'the stream store is unavailable: the stream cannot be read now; retry later',
  append:
    'the stream store is unavailable: the append was not confirmed; retry later (Producer-Id, Producer-Epoch and Producer-Seq make a retry safe)',
  create: 'the stream store is unavailable: the stream was not confirmed created; retry later (the same PUT is safe to repeat)',
  delete: 'the stream store is unavailable: the stream was not confirmed deleted; retry later',
  other: 'the stream store is unavailable; retry later',
};

const TIMEOUT: Record<Operation | 'other', string> = {
  read: 'the stream store did not answer the read in time; retry later',
  append:
    'the stream store did not answer the append in time: it may have been stored; retry later (Producer-Id, Producer-Epoch and Producer-Seq make a retry safe)',
  create:
    'the stream store did not answer the create in time: the stream may have been created; retry later (the same PUT is safe to repeat)',
  delete: 'the stream store did not answer the delete in time: the stream may have been deleted (a retry then answers 404); retry later',
  other: 'the stream store did not answer in time; retry later',
};

const OTHER: Partial<Record<StowageErrorCode, string>> = {
  CORRUPT: 'a stored record could not be decoded',
  INTERNAL: 'internal error',
};

/** Errors of this server (not of a store): their messages name no host, port or class, and are shown as they are. */
const OWN = '@stowage/durable-streams-server ';

/**
 * The message of a 5xx answer to `req`, fit to what it asked of the store (a read is never
 * told about writes); `undefined` for other codes, whose message the client is shown.
 * `UNAVAILABLE` raised by this server itself (a read that waited too long for its turn) keeps
 * its own message, which says why.
 */
export function serverSideMessage(e: StowageError, req: IncomingMessage, basePath: string): string | undefined {
  if (e.code === 'UNAVAILABLE' || e.code === 'TIMEOUT') {
    if (e.code === 'UNAVAILABLE' && e.message.startsWith(OWN)) return undefined;
    return (e.code === 'UNAVAILABLE' ? UNAVAILABLE : TIMEOUT)[operationOf(req, basePath)];
  }
  return OTHER[e.code];
}

/** The protocol operation of a request to a stream; `other` for the reserved `__ds/` APIs and anything unparsable. */
function operationOf(req: IncomingMessage, basePath: string): Operation | 'other' {
  const operation = OPERATIONS[req.method ?? ''];
  if (operation === undefined) return 'other';
  let name: string | undefined;
  try {
    name = nameOf(basePath, requestPath(req));
  } catch {
    return 'other';
  }
  return name === undefined || isReserved(name) ? 'other' : operation;
}
