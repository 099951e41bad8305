export type { CallOptions, Clock, Closeable, HealthResult, Prunable, StoreOptionsBase } from './contracts/common.js';
export { budgetTimeout, callBudget, checkDeadline, deadlineOf, settleWithin } from './deadline.js';
export type { CallBudget } from './deadline.js';
export { CLOCK_REFRESH_MS, ClockSampleTimeout, ServerClock } from './server-clock.js';
export type { SessionRecord, SessionSetOptions, SessionStore } from './contracts/session.js';
export type {
  RateLimitAlgorithm,
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

export { ErrorSource, STOWAGE_ERROR_CODES, StowageError } from './errors.js';
export type { StowageErrorCode, StowageErrorOptions } from './errors.js';
export {
  MAX_DURATION_MS,
  MAX_EXACT_INTEGER,
  MAX_KEY_BYTES,
  MAX_TIMESTAMP_MS,
  copyBytes,
  readClock,
  validateBoolean,
  validateBytes,
  validateClock,
  validateDuration,
  validateIdentifier,
  validateInteger,
  validateKey,
  validateOptionalDuration,
  validateOptions,
  validateString,
  validateTimestamp,
  validateTtlOption,
} from './validate.js';
export { HASHED_KEY_PREFIX, isStoreKey, toStoreKey } from './store-key.js';

export { ceilDiv, floorDiv } from './rate-limit/math.js';
export { MAX_POLICIES, normalizePolicies, validateCost } from './rate-limit/policy.js';
export type { NormalizedPolicy } from './rate-limit/policy.js';
export { decideAfterConsume, defaultPolicyName, evaluateRateLimit } from './rate-limit/algorithms.js';
export type { RateLimitOutcome, RateLimitWrite } from './rate-limit/algorithms.js';
export { RATE_LIMIT_ALGORITHM_CODES, stateFromColumns, stateToColumns } from './rate-limit/state.js';
export type {
  FixedWindowState,
  GcraState,
  RateLimitState,
  RateLimitStateColumns,
  SlidingWindowState,
} from './rate-limit/state.js';
export { stateExpiresAt } from './rate-limit/lifetime.js';
export { rateLimitHeaders } from './rate-limit/headers.js';
export type { RateLimitHeaders } from './rate-limit/headers.js';

export { fingerprintRequest } from './fingerprint.js';
export type { FingerprintInput } from './fingerprint.js';
export { hashToken, randomToken, safeEqual } from './tokens.js';
export { encryptedCodec, jsonCodec } from './codecs.js';
export type { Codec, EncryptedCodecOptions, EncryptionKey } from './codecs.js';
export { measureHealth } from './health.js';

export {
  compareUtf8,
  formatOffset,
  isOffset,
  normalizeContentType,
  OFFSET_NOW_SENTINEL,
  OFFSET_START_SENTINEL,
  parseOffset,
  STREAM_START_OFFSET,
} from './streams/offsets.js';
export { checkProducer } from './streams/producer.js';
export type { ProducerState, ProducerVerdict } from './streams/producer.js';
export {
  STREAM_DEFAULTS,
  validateAppendOptions,
  validateCreateOptions,
  validateMessages,
  validateProducer,
  validateReadOptions,
  validateStreamConfig,
} from './streams/validate.js';
export type { ValidatedAppendOptions, ValidatedFork, ValidatedStreamConfig } from './streams/validate.js';
export { runAsync, runSync } from './streams/backend.js';
export type { AsyncStreamBackend, BackendCall, PositionedMessage, StoredStream, StreamBackend, StreamOp } from './streams/backend.js';
export { StreamEngine, streamInfo } from './streams/engine.js';
export { StreamWaiters, waitOutcome } from './streams/waiters.js';
export type { TailSnapshot, WaitParams } from './streams/waiters.js';
export {
  couldBeToken,
  DEFAULT_MAX_RESPONSE_BYTES,
  decodeStoredResponse,
  encodeStoredResponse,
  validateCompleteArgs,
  validateHolderArgs,
  validateReserveArgs,
  validateStoredResponse,
  validateToken,
} from './idempotency.js';
export { validateCsrfCheck } from './csrf.js';
export { validateJwksPutArgs } from './jwks.js';
export { EngineStreamOps } from './streams/engine-store.js';
export type { EngineStreamOpsOptions } from './streams/engine-store.js';
export {
  namedParams,
  PG_SERVER_NOW,
  postgresDialect,
  rateLimitDecisionFromRows,
  rateLimitManyParams,
  rateLimitManySql,
  rateLimitSingleParams,
  rateLimitSingleSql,
  sqliteDialect,
} from './sql/rate-limit.js';
export type { ManySource, RateLimitStateRow, SqlDialect } from './sql/rate-limit.js';
export { CONSUME_ATTEMPTS, settleConsume, settleConsumeSync } from './rate-limit/settle.js';
export type { ConsumeRows, ConsumeSteps, StatesRead } from './rate-limit/settle.js';
export { sessionRecordFromRow, storedStreamFromRow } from './sql/rows.js';
export type { SessionRow, StreamRow } from './sql/rows.js';
export { maxSessionDataBytes, validateDestroyByOwnerArgs, validateRotateArgs, validateSessionSet } from './sessions.js';
export type { SessionSizeOptions } from './sessions.js';
export type { ValidatedSessionSet } from './sessions.js';
