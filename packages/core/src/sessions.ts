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

/** The arguments of `SessionStore.rotate`: returns `opts.ttlMs` (`undefined`: keep the session's expiry). */
export function validateRotateArgs(source: ErrorSource, oldId: unknown, newId: unknown, opts: unknown): number | undefined {
  validateKey(source, 'oldId', oldId);
  validateKey(source, 'newId', newId);
  const o = validateOptions<{ ttlMs: number }>(source, 'opts', opts);
  const ttlMs = o.ttlMs === undefined ? undefined : validateDuration(source, 'opts.ttlMs', o.ttlMs);
  if (oldId === newId) throw source.invalid('oldId and newId are the same');
  return ttlMs;
}

/** The arguments of `SessionStore.destroyByOwner`: returns `opts.except`. */
export function validateDestroyByOwnerArgs(source: ErrorSource, owner: unknown, opts: unknown): string | undefined {
  validateKey(source, 'owner', owner);
  const o = validateOptions<{ except: string }>(source, 'opts', opts);
  return o.except === undefined ? undefined : validateKey(source, 'opts.except', o.except);
}
