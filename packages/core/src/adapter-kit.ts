/**
 * `@stowage/core/adapter-kit`: what an adapter author needs to build a store that keeps the
 * contracts of `@stowage/core`: argument validation in the contracts' order, deadlines and
 * server clocks, `ErrorSource`, the rate-limit algorithms and their SQL, row mappers, the
 * idempotency and session rules, and the sans-IO stream engine (a backend supplies a few
 * storage calls; the engine keeps the protocol). See the README's "Writing an adapter".
 */
export { budgetTimeout, callBudget, checkDeadline, deadlineOf, settleWithin } from './deadline.js';
export { CALL_OPTION_NAMES, STORE_CALLS, type StoreCall } from './call-options.js';
export type { CallBudget } from './deadline.js';
export { CLOCK_REFRESH_MS, ClockSampleTimeout, ServerClock } from './server-clock.js';
export { steadyNow } from './steady-clock.js';
export { ErrorSource } from './errors.js';
export {
  copyBytes,
  readClock,
  validateBoolean,
  validateBytes,
  validateCodec,
  validateFunction,
  validateClock,
  validateDuration,
  validateIdentifier,
  validateInteger,
  validateKey,
  validateOptionalDuration,
  validateOptionNames,
  validateOptions,
  validateString,
  validateTimerMs,
  validateTimestamp,
  validateTtlOption,
} from './validate.js';
export type { OwnOptionNames } from './validate.js';
export { ceilDiv, floorDiv } from './rate-limit/math.js';
export { normalizePolicies, validateCost, validateRateLimitArgs } from './rate-limit/policy.js';
export type { NormalizedPolicy } from './rate-limit/policy.js';
export { anchoredBackoffMs, decideAfterConsume, defaultPolicyName, evaluateRateLimit } from './rate-limit/algorithms.js';
export type { RateLimitOutcome, RateLimitWrite } from './rate-limit/algorithms.js';
export {
  RATE_LIMIT_ALGORITHM_CODES,
  RATE_LIMIT_VARIANTS,
  rateLimitCode,
  rateLimitVariant,
  stateFromColumns,
  stateToColumns,
} from './rate-limit/state.js';
export type {
  AnchoredWindowState,
  FixedWindowState,
  GcraState,
  RateLimitState,
  RateLimitStateColumns,
  RateLimitVariant,
  SlidingWindowState,
} from './rate-limit/state.js';
export { stateExpiresAt } from './rate-limit/lifetime.js';
export { CountingWindow } from './rate-limit/counting-window.js';
export { hashToken, randomToken, safeEqual } from './tokens.js';
export { measureHealth, storeHealth } from './health.js';
export { backgroundReporter } from './background-error.js';
export { type BackgroundTask, repeatInBackground } from './background-task.js';
export type { BackgroundReport } from './background-error.js';
export { formatOffset, normalizeContentType, parseOffset } from './streams/offsets.js';
export { checkProducer } from './streams/producer.js';
export type { ProducerState, ProducerVerdict } from './streams/producer.js';
export {
  HTTP_TOKEN,
  validateAppendOptions,
  validateCreateOptions,
  validateMessages,
  validateProducer,
  validateReadOptions,
  validateStreamConfig,
} from './streams/validate.js';
export type { ValidatedAppendOptions, ValidatedFork, ValidatedStreamConfig } from './streams/validate.js';
export { runAsync, runSync } from './streams/backend.js';
export { EMPTY_RUN, type MessageRun, runMessages, runOf, runReadResult } from './streams/run.js';
export {
  StreamReadCache,
  readThrough,
  type StreamReadCacheOptions,
  withCached,
} from './streams/read-cache.js';
export type {
  AsyncStreamBackend,
  BackendCall,
  PositionedMessage,
  StoredStream,
  StreamBackend,
  StreamOp,
} from './streams/backend.js';
export { readResult, StreamEngine, streamInfo } from './streams/engine.js';
export { StreamWaiters, waitOutcome } from './streams/waiters.js';
export type { KnownTail, TailSnapshot, WaitParams } from './streams/waiters.js';
export {
  couldBeToken,
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
export { validateDestroyByOwnerArgs, validateRotateArgs, validateSessionSet } from './sessions.js';
export { sizeLimit } from './size-limits.js';
export type { IdempotencySizeOptions, JwksSizeOptions, SessionSizeOptions, StreamSizeOptions } from './size-limits.js';
export type { ValidatedSessionSet } from './sessions.js';
export { errorType, instrumentStore, STORE_OPERATIONS } from './telemetry.js';
export type { StoreContract, StoreTelemetry } from './telemetry.js';
