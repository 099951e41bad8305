import type { RateLimitDecision, RateLimitPolicy } from '../contracts/rate-limit.js';
import { defaultPolicyName } from './algorithms.js';

/** The response fields of the IETF draft "RateLimit header fields for HTTP". */
export interface RateLimitHeaders {
  /** Every policy: `"name";q=<quota>;w=<window seconds>`, comma-separated. */
  'RateLimit-Policy': string;
  /** The deciding policy: `"name";r=<remaining>;t=<seconds to reset>`. */
  RateLimit: string;
  /** Seconds until the same request would be allowed; only when denied. */
  'Retry-After'?: string;
}

function policyName(p: RateLimitPolicy, index: number, count: number): string {
  return p.name ?? defaultPolicyName(index, count);
}

/** A structured-field string: printable ASCII with `"` and `\` escaped; other characters become `?`. */
function sfString(s: string): string {
  return `"${s.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, '\\$&')}"`;
}

const seconds = (ms: number): number => Math.ceil(ms / 1000);

/**
 * The `RateLimit-Policy`, `RateLimit` and (when denied) `Retry-After` fields for a
 * decision. Policies without a `name` are called `default` (one policy) or `p0`, `p1`, ...
 * Windows and times are whole seconds, rounded up.
 */
export function rateLimitHeaders(decision: RateLimitDecision, policy: RateLimitPolicy | readonly RateLimitPolicy[]): RateLimitHeaders {
  const list: readonly RateLimitPolicy[] = Array.isArray(policy) ? policy : [policy as RateLimitPolicy];
  const items = list.map((p, i) => `${sfString(policyName(p, i, list.length))};q=${p.limit};w=${Math.max(1, seconds(p.windowMs))}`);
  let deciding = 0;
  if (decision.policy !== undefined) {
    const found = list.findIndex((p, i) => policyName(p, i, list.length) === decision.policy);
    if (found >= 0) deciding = found;
  }
  const name = policyName(list[deciding]!, deciding, list.length);
  const headers: RateLimitHeaders = {
    'RateLimit-Policy': items.join(', '),
    RateLimit: `${sfString(name)};r=${decision.remaining};t=${seconds(decision.resetMs)}`,
  };
  if (!decision.allowed) headers['Retry-After'] = String(Math.max(1, seconds(decision.retryAfterMs)));
  return headers;
}
