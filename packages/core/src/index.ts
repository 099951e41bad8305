/**
 * `@stowage/core`: what an application uses. The contracts (interfaces whose JSDoc states the
 * semantics every store keeps), `StowageError` and its codes, the limits, keys from request
 * data (`toStoreKey`), codecs, request fingerprints, RateLimit headers and stream offsets.
 * What an adapter author needs to build a store is at `@stowage/core/adapter-kit`.
 */
export type {
  BackgroundErrorContext,
  BackgroundErrorHandler,
  CallOptions,
  Clock,
  Closeable,
  HealthOptions,
  HealthResult,
  Healthy,
  Prunable,
  StoreOptionsBase,
} from './contracts/common.js';
export type { SessionRecord, SessionSetOptions, SessionStore } from './contracts/session.js';
export type {
  RateLimitAlgorithm,
  RateLimitOnExceed,
  RateLimitConsumeOptions,
  RateLimitDecision,
  RateLimitPolicy,
  RateLimitStore,
} from './contracts/rate-limit.js';
export type { IdempotencyStore, Reservation, StoredResponse } from './contracts/idempotency.js';
export type { CsrfTokenStore } from './contracts/csrf.js';
export type { Lease, LockStore } from './contracts/lock.js';
export type { CachedJwks, JwksCacheStore } from './contracts/jwks.js';
export type {
  StreamAppendOptions,
  StreamAppendResult,
  StreamCloseResult,
  StreamConfig,
  StreamCreateOptions,
  StreamCreateResult,
  StreamForkSpec,
  StreamInfo,
  StreamMessage,
  StreamProducer,
  StreamReadOptions,
  StreamReadResult,
  StreamStore,
  StreamWaitOutcome,
} from './contracts/stream.js';
export { STOWAGE_ERROR_CODES, StowageError } from './errors.js';
export type { StowageErrorCode, StowageErrorOptions } from './errors.js';
export { MAX_DURATION_MS, MAX_EXACT_INTEGER, MAX_KEY_BYTES, MAX_TIMER_MS, MAX_TIMESTAMP_MS } from './validate.js';
export { HASHED_KEY_PREFIX, isStoreKey, toStoreKey } from './store-key.js';
export { MAX_POLICIES } from './rate-limit/policy.js';
export { rateLimitHeaders } from './rate-limit/headers.js';
export type { RateLimitHeaders } from './rate-limit/headers.js';
export { fingerprintRequest } from './fingerprint.js';
export type { FingerprintInput } from './fingerprint.js';
export { encryptedCodec, jsonCodec } from './codecs.js';
export type { Codec, EncryptedCodecOptions, EncryptionKey } from './codecs.js';
export {
  compareUtf8,
  isOffset,
  OFFSET_NOW_SENTINEL,
  OFFSET_START_SENTINEL,
  STREAM_START_OFFSET,
} from './streams/offsets.js';
export { STREAM_DEFAULTS } from './streams/validate.js';
export { DEFAULT_MAX_RESPONSE_BYTES } from './idempotency.js';
export type {
  AckResult,
  Claim,
  Refused,
  SigningKeyRecord,
  Subscription,
  SubscriptionAck,
  SubscriptionDefinition,
  SubscriptionLink,
  SubscriptionStore,
  SubscriptionType,
  Wake,
  WakeNotice,
  WakeProof,
  WakeRefusal,
} from './contracts/subscription.js';
export { createSubscriptionStore } from './subscriptions/store.js';
export type { SubscriptionStoreOptions } from './subscriptions/store.js';
export { matchesPattern } from './subscriptions/glob.js';
