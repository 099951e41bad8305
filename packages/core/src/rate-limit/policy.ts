import type { RateLimitAlgorithm, RateLimitConsumeOptions, RateLimitOnExceed, RateLimitPolicy } from '../contracts/rate-limit.js';
import type { ErrorSource } from '../errors.js';
import { MAX_EXACT_INTEGER, validateDuration, validateInteger, validateKey, validateOptions } from '../validate.js';

/** Most policies one call may combine. */
export const MAX_POLICIES = 16;

/** A validated policy with its derived numbers. */
export interface NormalizedPolicy {
  readonly algorithm: RateLimitAlgorithm;
  readonly limit: number;
  readonly windowMs: number;
  /** `burst` for gcra (default `limit`), `limit` otherwise: the most one call can consume. */
  readonly capacity: number;
  readonly name: string | undefined;
  /** `anchored-window`: the count past which `onExceed` applies; `capacity` for the others. */
  readonly threshold: number;
  /** `anchored-window`: what happens past `threshold`; `keep` for the others. */
  readonly onExceed: RateLimitOnExceed;
  /**
   * Identifies the policy's state under a key: `g:limit:windowMs:burst`, `f:limit:windowMs`,
   * `s:limit:windowMs`, `a:limit:windowMs` (`keep`), `a:limit:windowMs:threshold:r|b`
   * (`restart`, `backoff`). A policy with other numbers has other state.
   */
  readonly id: string;
}

const ALGORITHM_TAG: Record<RateLimitAlgorithm, string> = {
  gcra: 'g',
  'fixed-window': 'f',
  'sliding-window': 's',
  'anchored-window': 'a',
};
const ON_EXCEED: readonly RateLimitOnExceed[] = ['keep', 'restart', 'backoff'];

// Validated policies are cached by object identity (callers pass the same policy objects on
// every request); a cached entry is used only while the object's fields are unchanged.
const cache = new WeakMap<object, NormalizedPolicy>();
const arrayCache = new WeakMap<object, { items: readonly unknown[]; out: readonly NormalizedPolicy[] }>();

function unchanged(p: Partial<RateLimitPolicy>, n: NormalizedPolicy): boolean {
  return (
    p.algorithm === n.algorithm &&
    p.limit === n.limit &&
    p.windowMs === n.windowMs &&
    p.name === n.name &&
    (p.burst === undefined ? n.capacity === n.limit : p.burst === n.capacity) &&
    (p.onExceed ?? 'keep') === n.onExceed &&
    (p.threshold === undefined ? n.threshold === n.capacity : p.threshold === n.threshold)
  );
}

function cachedOne(source: ErrorSource, policy: unknown, field: string): NormalizedPolicy {
  if (policy !== null && typeof policy === 'object') {
    const hit = cache.get(policy);
    if (hit !== undefined && unchanged(policy as Partial<RateLimitPolicy>, hit)) return hit;
  }
  const one = normalizeOne(source, policy, field);
  cache.set(policy as object, one);
  return one;
}

function normalizeOne(source: ErrorSource, policy: unknown, field: string): NormalizedPolicy {
  if (policy === null || typeof policy !== 'object') {
    throw source.invalid(`${field} must be a policy object`, { field });
  }
  const p = policy as Partial<RateLimitPolicy>;
  const algorithm = p.algorithm;
  if (typeof algorithm !== 'string' || !Object.hasOwn(ALGORITHM_TAG, algorithm)) {
    throw source.invalid(`${field}.algorithm must be 'gcra', 'fixed-window', 'sliding-window' or 'anchored-window'`, { field });
  }
  const limit = validateInteger(source, `${field}.limit`, p.limit, 1, MAX_EXACT_INTEGER);
  const windowMs = validateDuration(source, `${field}.windowMs`, p.windowMs);
  if (limit * windowMs > MAX_EXACT_INTEGER) {
    throw source.invalid(`${field}: limit * windowMs must be at most 2^52`, { field });
  }
  let capacity = limit;
  if (p.burst !== undefined) {
    if (algorithm !== 'gcra') throw source.invalid(`${field}.burst applies to the gcra algorithm only`, { field });
    capacity = validateInteger(source, `${field}.burst`, p.burst, 1, MAX_EXACT_INTEGER);
    if (capacity * windowMs > MAX_EXACT_INTEGER) {
      throw source.invalid(`${field}: burst * windowMs must be at most 2^52`, { field });
    }
  }
  const { threshold, onExceed } = exceedOf(source, field, p, algorithm, limit, capacity);
  const name = p.name === undefined ? undefined : validateKey(source, `${field}.name`, p.name);
  const tag = ALGORITHM_TAG[algorithm];
  let id = `${tag}:${limit}:${windowMs}`;
  if (algorithm === 'gcra') id += `:${capacity}`;
  else if (onExceed !== 'keep') id += `:${threshold}:${onExceed[0]}`;
  return Object.freeze({ algorithm, limit, windowMs, capacity, name, threshold, onExceed, id });
}

/** `threshold` and `onExceed`: `anchored-window` only. */
function exceedOf(
  source: ErrorSource,
  field: string,
  p: Partial<RateLimitPolicy>,
  algorithm: RateLimitAlgorithm,
  limit: number,
  capacity: number,
): { threshold: number; onExceed: RateLimitOnExceed } {
  if (algorithm !== 'anchored-window') {
    for (const f of ['threshold', 'onExceed'] as const) {
      if (p[f] !== undefined) throw source.invalid(`${field}.${f} applies to the anchored-window algorithm only`, { field });
    }
    return { threshold: capacity, onExceed: 'keep' };
  }
  const onExceed = p.onExceed ?? 'keep';
  if (!ON_EXCEED.includes(onExceed)) throw source.invalid(`${field}.onExceed must be 'keep', 'restart' or 'backoff'`, { field });
  const threshold = p.threshold === undefined ? limit : validateInteger(source, `${field}.threshold`, p.threshold, 0, limit);
  return { threshold, onExceed };
}

/**
 * Validates a policy or an array of policies (1 to {@link MAX_POLICIES}, no two with the same
 * shape) and returns them as an array. `INVALID_ARGUMENT` on anything else.
 *
 */
export function normalizePolicies(source: ErrorSource, policy: RateLimitPolicy | readonly RateLimitPolicy[]): readonly NormalizedPolicy[] {
  if (!Array.isArray(policy)) return [cachedOne(source, policy, 'policy')];
  const list = policy as readonly RateLimitPolicy[];
  const hit = arrayCache.get(list);
  if (hit !== undefined && hit.items.length === list.length) {
    let same = true;
    for (let i = 0; i < list.length && same; i++) {
      same = hit.items[i] === list[i] && unchanged(list[i]!, hit.out[i]!);
    }
    if (same) return hit.out;
  }
  if (list.length === 0 || list.length > MAX_POLICIES) {
    throw source.invalid(`policy arrays hold 1 to ${MAX_POLICIES} policies, got ${list.length}`);
  }
  const out = list.map((p, i) => cachedOne(source, p, `policy[${i}]`));
  if (new Set(out.map((p) => p.id)).size !== out.length) {
    throw source.invalid('policy array holds the same policy twice');
  }
  Object.freeze(out);
  arrayCache.set(list, { items: list.slice(), out });
  return out;
}

/** Validates `cost` against every policy: an integer from 1 to the smallest capacity. */
export function validateCost(source: ErrorSource, cost: unknown, policies: readonly NormalizedPolicy[]): number {
  if (cost === undefined) return 1;
  if (typeof cost !== 'number' || !Number.isInteger(cost) || cost < 1) {
    throw source.invalid(`cost must be an integer >= 1, got ${String(cost)}`);
  }
  for (const p of policies) {
    if (cost > p.capacity) {
      throw source.invalid(`cost ${cost} exceeds the capacity ${p.capacity} of policy ${p.name ?? p.id}: it could never be admitted`);
    }
  }
  return cost;
}

/**
 * The arguments of `RateLimitStore.consume` (or `peek`, with `consume` false: no cost), in the
 * contracts' order: the key, the policies, then `opts.cost` against every policy.
 */
export function validateRateLimitArgs(
  source: ErrorSource,
  key: unknown,
  policy: unknown,
  opts: unknown,
  consume: boolean,
): { policies: readonly NormalizedPolicy[]; cost: number } {
  validateKey(source, 'key', key);
  const policies = normalizePolicies(source, policy as RateLimitPolicy | readonly RateLimitPolicy[]);
  if (!consume) return { policies, cost: 1 };
  return { policies, cost: validateCost(source, validateOptions<RateLimitConsumeOptions>(source, 'opts', opts).cost, policies) };
}
