import { LOG_LEVELS, type LogLevel } from './log.js';
import {
  DEFAULT_READ_CONCURRENCY,
  DEFAULT_READ_MAX_BYTES,
  DEFAULT_READ_MAX_MESSAGES,
  DEFAULT_READ_QUEUE_TIMEOUT_MS,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from './options.js';
import type { StoreSpecOptions } from './store-spec.js';
import { flagOption, integerOption, listOption, type RawConfig, stringOption, UsageError } from './cli-config.js';
import { type HeaderSettings, headerSettingsOf } from './cli-headers.js';

/** What the CLI runs with, every option resolved (flag > environment > default) and checked. */
export interface CliSettings {
  store: string;
  storeOptions: StoreSpecOptions;
  host: string;
  port: number;
  basePath: string;
  longPollTimeoutMs: number | undefined;
  maxBodyBytes: number | undefined;
  readMaxBytes: number;
  readMaxMessages: number;
  readConcurrency: number;
  readQueueTimeoutMs: number;
  /** Unset: the server's defaults (15 s, 60 s). */
  sseHeartbeatMs: number | undefined;
  sseMaxDurationMs: number | undefined;
  /** Unset: the server's defaults (30 s, 120 s, 20 s). */
  timeouts: { sendTimeoutMs?: number; requestTimeoutMs?: number; headersTimeoutMs?: number };
  headers: HeaderSettings;
  cleanupMs: number;
  shutdownMs: number;
  quiet: boolean;
  logLevel: LogLevel;
  subscriptions: boolean;
  webhooks: boolean;
  allowWebhookHosts: string[];
  publicBaseUrl: string | undefined;
  rotateSigningKey: boolean;
}

export const DEFAULT_STORE = 'sqlite:./data/streams.db';
type TimeoutFlag = 'send-timeout' | 'request-timeout' | 'headers-timeout';
const TIMEOUTS: ReadonlyArray<[TimeoutFlag, 'sendTimeoutMs' | 'requestTimeoutMs' | 'headersTimeoutMs']> = [
  ['send-timeout', 'sendTimeoutMs'],
  ['request-timeout', 'requestTimeoutMs'],
  ['headers-timeout', 'headersTimeoutMs'],
];
export const DEFAULT_SHUTDOWN_MS = 10_000;
const HOUR = 3_600_000;
const INT32 = 2 ** 31 - 1;
/** PostgreSQL identifiers as the store takes them (quoted in every statement, never spliced raw). */
const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_]*$/;
/** Printable, no space, no braces: `{` `}` would move the store's Redis Cluster hash tag. */
const KEY_PREFIX = /^[\x21-\x7a\x7c\x7e]+$/;

export function settingsOf(raw: RawConfig): CliSettings {
  const store = stringOption(raw, 'store')?.value ?? DEFAULT_STORE;
  const basePathRaw = stringOption(raw, 'base-path') ?? { value: '/', from: '--base-path' };
  if (!basePathRaw.value.startsWith('/'))
    throw new UsageError(`${basePathRaw.from} must start with /, got ${JSON.stringify(basePathRaw.value)}`);
  // The printed URLs join the base path and a name: `/streams` and `/streams/` are the same base.
  const basePath = basePathRaw.value.endsWith('/') ? basePathRaw.value : `${basePathRaw.value}/`;
  type Optional = 'long-poll-timeout' | 'max-body-bytes' | 'sse-heartbeat' | 'sse-max-duration' | TimeoutFlag;
  const optional = (name: Optional, min: number, max: number) =>
    stringOption(raw, name) === undefined ? undefined : integerOption(raw, name, 0, min, max);
  const timeouts: CliSettings['timeouts'] = {};
  for (const [flag, key] of TIMEOUTS) {
    const ms = optional(flag, 1, 24 * HOUR);
    if (ms !== undefined) timeouts[key] = ms;
  }
  // Checked here, not by the server once the store is open: a usage error (exit 2).
  const request = timeouts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  if (timeouts.headersTimeoutMs !== undefined && timeouts.headersTimeoutMs > request) {
    throw new UsageError(`${stringOption(raw, 'headers-timeout')!.from} must be at most the request time limit (${request} ms)`);
  }

  const webhooks = flagOption(raw, 'webhooks');
  const subscriptions = flagOption(raw, 'subscriptions') || webhooks;
  const allowWebhookHosts = listOption(raw, 'allow-webhook-host');
  const publicBaseUrl = stringOption(raw, 'public-base-url')?.value;
  if (!subscriptions && (allowWebhookHosts.length > 0 || publicBaseUrl !== undefined)) {
    const given = [raw.lists.get('allow-webhook-host')?.from, stringOption(raw, 'public-base-url')?.from].filter((f) => f !== undefined);
    throw new UsageError(`${given.join(' and ')} need${given.length === 1 ? 's' : ''} --webhooks or --subscriptions`);
  }
  const rotateSigningKey = flagOption(raw, 'rotate-signing-key');
  if (rotateSigningKey && !webhooks) throw new UsageError('--rotate-signing-key needs --webhooks');

  return {
    store,
    storeOptions: storeOptionsOf(raw, store),
    host: stringOption(raw, 'host')?.value ?? '127.0.0.1',
    port: integerOption(raw, 'port', 4437, 0, 65_535),
    basePath,
    longPollTimeoutMs: optional('long-poll-timeout', 1, HOUR),
    maxBodyBytes: optional('max-body-bytes', 1, INT32),
    readMaxBytes: integerOption(raw, 'max-read-bytes', DEFAULT_READ_MAX_BYTES, 1, INT32),
    readMaxMessages: integerOption(raw, 'max-read-messages', DEFAULT_READ_MAX_MESSAGES, 1, 1_000_000),
    readConcurrency: integerOption(raw, 'read-concurrency', DEFAULT_READ_CONCURRENCY, 1, 10_000),
    readQueueTimeoutMs: integerOption(raw, 'read-queue-timeout', DEFAULT_READ_QUEUE_TIMEOUT_MS, 1, 3_600_000),
    sseHeartbeatMs: optional('sse-heartbeat', 1, HOUR),
    sseMaxDurationMs: optional('sse-max-duration', 1, 24 * HOUR),
    timeouts,
    headers: headerSettingsOf(raw),
    cleanupMs: integerOption(raw, 'cleanup-interval', 60_000, 0, INT32),
    shutdownMs: integerOption(raw, 'shutdown-timeout', DEFAULT_SHUTDOWN_MS, 0, HOUR),
    quiet: flagOption(raw, 'quiet'),
    logLevel: logLevelOf(raw),
    subscriptions,
    webhooks,
    allowWebhookHosts,
    publicBaseUrl,
    rotateSigningKey,
  };
}

function logLevelOf(raw: RawConfig): LogLevel {
  const given = stringOption(raw, 'log-level');
  if (given === undefined) return 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(given.value)) {
    throw new UsageError(`${given.from} must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(given.value)}`);
  }
  return given.value as LogLevel;
}

/** `--schema`, `--table-prefix` (PostgreSQL), `--key-prefix` (Redis) and `--read-cache`, checked against the store they are for. */
function storeOptionsOf(raw: RawConfig, store: string): StoreSpecOptions {
  const isPostgres = /^postgres(ql)?:\/\//.test(store);
  const isRedis = /^rediss?:\/\//.test(store);
  const out: StoreSpecOptions = {};
  const schema = stringOption(raw, 'schema');
  const tablePrefix = stringOption(raw, 'table-prefix');
  const keyPrefix = stringOption(raw, 'key-prefix');
  for (const [v, max] of [
    [schema, 63],
    [tablePrefix, 40],
  ] as const) {
    if (v === undefined) continue;
    if (!isPostgres) throw new UsageError(`${v.from} is for a postgres:// store`);
    if (v.value.length > max || !IDENTIFIER.test(v.value)) {
      throw new UsageError(
        `${v.from} must be 1 to ${max} characters of [A-Za-z0-9_], not starting with a digit, got ${JSON.stringify(v.value)}`,
      );
    }
  }
  if (schema !== undefined) out.schema = schema.value;
  if (tablePrefix !== undefined) out.tablePrefix = tablePrefix.value;
  if (keyPrefix !== undefined) {
    if (!isRedis) throw new UsageError(`${keyPrefix.from} is for a redis:// store`);
    if (keyPrefix.value.length > 128 || !KEY_PREFIX.test(keyPrefix.value)) {
      throw new UsageError(
        `${keyPrefix.from} must be 1 to 128 printable ASCII characters, no space, { or }, got ${JSON.stringify(keyPrefix.value)}`,
      );
    }
    out.keyPrefix = keyPrefix.value;
  }
  const readCache = stringOption(raw, 'read-cache');
  if (readCache !== undefined) {
    if (store === 'memory') throw new UsageError(`${readCache.from} is for a sqlite:, postgres:// or redis:// store`);
    out.readCacheBytes = integerOption(raw, 'read-cache', 0, 0, Number.MAX_SAFE_INTEGER);
  }
  return out;
}
