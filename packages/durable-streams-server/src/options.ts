import { type HealthResult, STREAM_DEFAULTS, type StreamStore } from '@stowage/core';
import { measureHealth, validateInteger, validateOptions } from '@stowage/core/adapter-kit';
import { source } from './protocol.js';
import { type ResolvedSubscriptions, resolveSubscriptions, type SubscriptionsOptions } from './subscription-options.js';

export interface StreamsServerOptions {
  /** The store behind every stream. The server never closes it. */
  store: StreamStore;
  /**
   * Streams live under this path; a stream's name is the rest of the (decoded) path.
   * Requests outside it get 404, or go to `next` when the handler is mounted as middleware.
   * @default '/'
   */
  basePath?: string;
  /** How long a long-poll waits for data before answering 204. @default 20000 */
  longPollTimeoutMs?: number;
  /** An SSE response ends after this long, so CDNs can collapse readers (protocol §8.2). @default 60000 */
  sseMaxDurationMs?: number;
  /** An idle SSE response gets a comment line this often, so proxies keep it open. @default 15000 */
  sseHeartbeatMs?: number;
  /** Largest request body; larger is answered 413. @default 8388608 (8 MiB, the stores' message limit) */
  maxBodyBytes?: number;
  /**
   * Most bytes of messages in one catch-up or long-poll response (one message is always
   * sent, whatever its size); the rest follows on the next request, at `Stream-Next-Offset`.
   * The protocol allows that, but the official client `@durable-streams/client` (0.2.x) with
   * `live: false` makes one request only: a stream larger than this reads short for it, with
   * no error. The default answers a stream of up to 16 MiB at once; each response is held in
   * memory whole while it is sent, so this bounds the memory of every read in flight.
   * @default 16777216 (16 MiB)
   */
  readMaxBytes?: number;
  /**
   * Most messages in one read response (see `readMaxBytes`). Kept at the stores' own default:
   * the Redis store fetches this many messages before it cuts at `readMaxBytes`, and one script
   * blocks the whole Redis server while it runs (10,000 messages of 16 KiB: over 2 s).
   * @default 1000
   */
  readMaxMessages?: number;
  /**
   * The probe behind `{basePath}__ds/health/ready`: resolves `{ ok, latencyMs, error? }`, never
   * throws (a store package's `postgresHealth(pool)`, `redisHealth(client)`, `sqliteHealth(db)`).
   * @default a `head` of the stream `__ds/health` on the store, within 2 s
   */
  health?: () => Promise<HealthResult>;
  /**
   * `Cache-Control` of reads that return a complete, immutable chunk (not at the tail).
   * Catch-up reads at the tail are `no-cache` (revalidated by ETag); long-polls that answer
   * with data get this even at the tail (their URL carries a cursor); HEAD and `offset=now` are `no-store`.
   * Use `public, ...` only for streams that are not user-specific.
   * @default 'private, max-age=60, stale-while-revalidate=300'
   */
  cacheControl?: string;
  /** `Access-Control-Allow-Origin` on every response; `false` sends no CORS headers. @default '*' */
  corsOrigin?: string | false;
  /** `Cross-Origin-Resource-Policy` on every response. @default 'cross-origin' */
  crossOriginResourcePolicy?: 'cross-origin' | 'same-site' | 'same-origin';
  /** Receives one line per error response (status 400 and up); `false` drops them. @default a line on stderr */
  log?: ((line: string) => void) | false;
  /**
   * The Durable Streams reserved subscription APIs under `{basePath}__ds/` (webhook and
   * pull-wake subscriptions, the webhook JWKS). Enabled only when given; without it `__ds/...`
   * answers 404: the prefix is the protocol's, never a stream name.
   * @default undefined (off)
   */
  subscriptions?: SubscriptionsOptions;
}

export interface ResolvedOptions {
  store: StreamStore;
  basePath: string;
  longPollTimeoutMs: number;
  sseMaxDurationMs: number;
  sseHeartbeatMs: number;
  maxBodyBytes: number;
  readMaxBytes: number;
  readMaxMessages: number;
  health: () => Promise<HealthResult>;
  cacheControl: string;
  corsOrigin: string | false;
  crossOriginResourcePolicy: string;
  log: (line: string) => void;
  subscriptions: ResolvedSubscriptions | undefined;
}

const HOUR = 3_600_000;
/** Default most bytes of one read response: see `StreamsServerOptions.readMaxBytes`. */
export const DEFAULT_READ_MAX_BYTES = 16 * 1024 * 1024;
/** Default most messages of one read response. */
export const DEFAULT_READ_MAX_MESSAGES = 1000;
const CORP = new Set(['cross-origin', 'same-site', 'same-origin']);

export function resolveOptions(options: StreamsServerOptions): ResolvedOptions {
  const o = validateOptions<StreamsServerOptions>(source, 'options', options);
  if (options === undefined) throw source.invalid('options.store is required');
  const store = o.store;
  if (store === null || typeof store !== 'object' || typeof store.read !== 'function' || typeof store.wait !== 'function') {
    throw source.invalid('options.store must be a StreamStore');
  }
  let basePath = o.basePath ?? '/';
  if (typeof basePath !== 'string' || !basePath.startsWith('/')) throw source.invalid("options.basePath must start with '/'");
  if (!basePath.endsWith('/')) basePath += '/';
  const int = (field: keyof StreamsServerOptions, fallback: number, min: number, max: number): number => {
    const v = o[field];
    return v === undefined ? fallback : validateInteger(source, `options.${field}`, v, min, max);
  };
  const corp = o.crossOriginResourcePolicy ?? 'cross-origin';
  if (!CORP.has(corp)) throw source.invalid('options.crossOriginResourcePolicy must be cross-origin, same-site or same-origin');
  const corsOrigin = o.corsOrigin ?? '*';
  if (corsOrigin !== false && (typeof corsOrigin !== 'string' || !/^[\x21-\x7e]+$/.test(corsOrigin))) {
    throw source.invalid('options.corsOrigin must be an origin, * or false');
  }
  const cacheControl = o.cacheControl ?? 'private, max-age=60, stale-while-revalidate=300';
  if (typeof cacheControl !== 'string' || !/^[\x20-\x7e]+$/.test(cacheControl)) {
    throw source.invalid('options.cacheControl must be a header value');
  }
  const log = logOf(o);
  const health = o.health ?? (() => measureHealth(() => store.head('__ds/health')));
  if (typeof health !== 'function') throw source.invalid('options.health must be a function');
  return {
    store,
    basePath,
    longPollTimeoutMs: int('longPollTimeoutMs', 20_000, 1, HOUR),
    sseMaxDurationMs: int('sseMaxDurationMs', 60_000, 1, 24 * HOUR),
    sseHeartbeatMs: int('sseHeartbeatMs', 15_000, 1, HOUR),
    maxBodyBytes: int('maxBodyBytes', STREAM_DEFAULTS.maxMessageBytes, 1, 2 ** 31 - 1),
    readMaxBytes: int('readMaxBytes', DEFAULT_READ_MAX_BYTES, 1, 2 ** 31 - 1),
    readMaxMessages: int('readMaxMessages', DEFAULT_READ_MAX_MESSAGES, 1, 1_000_000),
    health,
    cacheControl,
    corsOrigin,
    crossOriginResourcePolicy: corp,
    log,
    subscriptions: resolveSubscriptions(o.subscriptions),
  };
}

const toStderr = (line: string): void => void process.stderr.write(`${line}\n`);

/**
 * Where error lines go: the `log` option, stderr by default, nowhere with `false`. A `log`
 * function that throws does not fail the request: the line goes to stderr, with why.
 */
export function logOf(options: Pick<StreamsServerOptions, 'log'>): (line: string) => void {
  const log = options.log;
  if (log === false) return () => {};
  if (log === undefined || log === null) return toStderr;
  if (typeof log !== 'function') throw source.invalid('options.log must be a function or false');
  return (line: string) => {
    try {
      log(line);
    } catch (err) {
      toStderr(`${line} [options.log threw: ${err instanceof Error ? err.message : String(err)}]`);
    }
  };
}
