import type { SessionSetOptions } from './contracts/session.js';
import type { ErrorSource } from './errors.js';
import { validateBytes, validateDuration, validateInteger, validateKey, validateOptions } from './validate.js';

export interface ValidatedSessionSet {
  ttlMs: number;
  absoluteTtlMs: number | undefined;
  ifVersion: number | undefined;
  owner: string | undefined;
}

/** Validates the arguments of `SessionStore.set` (every store checks them alike). */
export function validateSessionSet(
  source: ErrorSource,
  id: unknown,
  data: unknown,
  opts: unknown,
  maxDataBytes: number,
): ValidatedSessionSet {
  validateKey(source, 'id', id);
  validateBytes(source, 'data', data, maxDataBytes);
  const o = validateOptions<SessionSetOptions>(source, 'opts', opts);
  return {
    ttlMs: validateDuration(source, 'opts.ttlMs', o.ttlMs),
    absoluteTtlMs: o.absoluteTtlMs === undefined ? undefined : validateDuration(source, 'opts.absoluteTtlMs', o.absoluteTtlMs),
    ifVersion: o.ifVersion === undefined ? undefined : validateInteger(source, 'opts.ifVersion', o.ifVersion, 0),
    owner: o.owner === undefined ? undefined : validateKey(source, 'opts.owner', o.owner),
  };
}
