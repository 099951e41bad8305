/**
 * Framework-neutral middleware over Stowage stores. Bindings: `@stowage/middleware/express`
 * and `@stowage/middleware/hono` (any Fetch-API framework can use the classes directly).
 *
 * @module
 */
export { RateLimiter, type RateLimiterOptions, type RateLimitVerdict } from './rate-limit.js';
export {
  DEFAULT_EXCLUDED_HEADERS,
  IdempotencyGuard,
  type IdempotencyOptions,
  type IdempotencyVerdict,
  type IdempotentRequest,
} from './idempotency.js';
export { CsrfProtection, type CsrfOptions, type CsrfVerdict } from './csrf.js';
export { problem, type HeaderLines, type ResponseDraft } from './problem.js';
export type { FailurePolicy } from './failure.js';
