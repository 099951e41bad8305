import { type HealthResult, type Healthy, STREAM_DEFAULTS, type StreamStore } from '@stowage/core';
import { measureHealth, validateBoolean, validateInteger, validateOptionNames, validateOptions } from '@stowage/core/adapter-kit';
import { isLogger, jsonLogger, safeLogger, serverReporter, type ServerErrorHandler, type ServerReport, type StreamsLogger } from './log.js';
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
   * Most messages in one read response (see `readMaxBytes`), the stores' own default. Every
   * store stops at `readMaxBytes` whatever this is, so raising it (to 100,000, say) is safe when
   * streams hold many small messages and clients read with the official client's `live: false`.
   * @default 1000
   */
  readMaxMessages?: number;
  /**
   * Most reads of the store for responses (the data of a catch-up, long-poll or SSE
   * response) in flight at once; the others wait their turn in the server, in arrival order,
   * where the store's time limit does not run. A store's limit (Redis `timeoutMs`, 2 s;
   * PostgreSQL `statementTimeoutMs`, 5 s) counts the time a call waits in the store's client
   * behind the calls before it, so without a bound a burst of large reads (64 readers of a
   * 6.4 MiB stream) timed out together and every reader got 503. Identical reads waiting for
   * their turn (same stream and offset) are made once, for all of them. Keep this many reads
   * of `readMaxBytes` within the store's time limit.
   * @default 4
   */
  readConcurrency?: number;
  /**
   * Longest a read waits for its turn (see `readConcurrency`) before its request is answered
   * 503 with `Retry-After` (the store is busy), so that a slow or paused store answers each
   * request within this plus the store's own time limit. A request whose client leaves while
   * it waits leaves the queue; a read nobody waits for is not made.
   * @default 2000
   */
  readQueueTimeoutMs?: number;
  /**
   * Longest a write of a response may wait in the server for its client to take it; past it
   * the connection is cut and one line is logged (code `SEND_TIMEOUT`). A client that asks for
   * a large read and never reads would otherwise hold the response's data (up to
   * `readMaxBytes`) here for as long as its connection stays open. Bodies over 1 MiB are
   * written a 1 MiB piece at a time, so this bounds a stall, not the transfer: a client that
   * takes 1 MiB per 30 s (35 KB/s, slower than 3G) gets a 16 MiB read whole, however long that
   * takes. SSE responses too: each batch waits to be taken before the next is read, and a
   * client that takes none of it within this is cut the same way, whatever is left of the
   * response's `sseMaxDurationMs`.
   * @default 30000
   */
  sendTimeoutMs?: number;
  /**
   * `createStreamsServer` only: longest a client may take to send a whole request, head and
   * body (Node's `server.requestTimeout`, 300 s by default); past it the request is answered
   * 408, its connection closed, and nothing it sent is stored. An append of the default
   * `maxBodyBytes` (8 MiB) takes about 70 s over a 1 Mbit/s uplink: 120 s lets one through
   * at 600 kbit/s. Raise it with `maxBodyBytes` or for slower clients. A live read's time
   * does not count (its request ends with its head).
   * @default 120000
   */
  requestTimeoutMs?: number;
  /**
   * `createStreamsServer` only: longest a client may take to send a request's head (Node's
   * `server.headersTimeout`, 60 s by default), from its connection or the end of its previous
   * request; past it, 408 and the connection closed. A head (at most 16 KiB in Node) takes
   * about 2 s at 64 kbit/s: 20 s leaves room for lost packets, and a client that opens
   * connections and trickles their heads holds each for 20 s, not 60. At most
   * `requestTimeoutMs` (it is capped there when not given).
   * @default 20000
   */
  headersTimeoutMs?: number;
  /**
   * The probe behind `{basePath}__ds/health/ready`: resolves `{ ok, latencyMs, error? }`, never
   * throws (a store package's `postgresHealth(pool)`, `redisHealth(client)`, `sqliteHealth(db)`).
   * @default the store's `health()` (every Stowage store has one); for a store without it, a
   * `head` of the stream `__ds/health`, within 2 s
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
  /**
   * Receives one text line per error response (status 400 and up) and per response cut
   * because its client did not take it (`SEND_TIMEOUT`, see `sendTimeoutMs`), instead of the
   * `logger`; `false` drops them. Prefer `logger`, which gets them as fields.
   * @default undefined (error responses go to the `logger`)
   */
  log?: ((line: string) => void) | false;
  /**
   * A pino-compatible logger (`info/warn/error/debug` called as `(fields, msg)`). It gets one
   * `warn` line per 4xx response and `error` per 5xx (`reqId`, `method`, `path` without query,
   * `status`, `code`), a `warn` line per response cut because its client did not take it
   * (`code: SEND_TIMEOUT`), one `info` line per completed request (`reqId`, `method`, `path`,
   * `status`, `durationMs`), and background failures when there is no `onError`. Never a
   * payload, a query string, a header value, a webhook secret or a signing key. Each request's
   * id is its `X-Request-Id` when that is safe (1 to 64 of `A-Z a-z 0-9 . _ : @ / + = -`), else a
   * random UUID, and is sent back in the response's `X-Request-Id`.
   * @default JSON lines on stderr at level `warn` (error responses and background failures only)
   */
  logger?: StreamsLogger;
  /**
   * Receives each failure of work no request awaits: subscription bookkeeping and webhook or
   * pull-wake deliveries (operation and a one-line message in the context).
   * @default an `error` line on the `logger`
   */
  onError?: ServerErrorHandler;
  /**
   * The Durable Streams reserved subscription APIs under `{basePath}__ds/` (webhook and
   * pull-wake subscriptions, the webhook JWKS). Enabled only when given; without it `__ds/...`
   * answers 404: the prefix is the protocol's, never a stream name.
   * @default undefined (off)
   */
  subscriptions?: SubscriptionsOptions;
  /**
   * OpenTelemetry: a SERVER span and an `http.server.request.duration` measurement per request,
   * and the `stowage.streams.*` metrics, when `@opentelemetry/api` is installed and an SDK is
   * registered. `false` does none of it and leaves the store unwrapped (the store's own
   * spans are its `telemetry` option).
   * @default true
   */
  telemetry?: boolean;
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
  readConcurrency: number;
  readQueueTimeoutMs: number;
  sendTimeoutMs: number;
  requestTimeoutMs: number;
  headersTimeoutMs: number;
  health: () => Promise<HealthResult>;
  cacheControl: string;
  corsOrigin: string | false;
  crossOriginResourcePolicy: string;
  log: (entry: ErrorLine) => void;
  /** The `logger` option (made safe to call), or the default. */
  logger: StreamsLogger;
  /** Where background failures go: `onError`, else the logger. */
  report: ServerReport;
  subscriptions: ResolvedSubscriptions | undefined;
  telemetry: boolean;
}

/** One error response, as `logLine` describes it. */
export interface ErrorLine {
  status: number;
  code: string;
  /** One line, bounded. */
  message: string;
  method: string;
  /** Without the query. */
  path: string;
  /** Absent for what Node could not parse as a request. */
  reqId?: string;
}

const HOUR = 3_600_000;
/** Default most bytes of one read response: see `StreamsServerOptions.readMaxBytes`. */
export const DEFAULT_READ_MAX_BYTES = 16 * 1024 * 1024;
/** Default most messages of one read response. */
export const DEFAULT_READ_MAX_MESSAGES = 1000;
/** Default most reads of the store in flight at once: see `StreamsServerOptions.readConcurrency`. */
export const DEFAULT_READ_CONCURRENCY = 4;
/** Default longest wait of a read for its turn: see `StreamsServerOptions.readQueueTimeoutMs`. */
export const DEFAULT_READ_QUEUE_TIMEOUT_MS = 2000;
/** Default send time limit: see `StreamsServerOptions.sendTimeoutMs`. */
export const DEFAULT_SEND_TIMEOUT_MS = 30_000;
/** Default longest time to receive a request: see `StreamsServerOptions.requestTimeoutMs`. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 120_000;
/** Default longest time to receive a request's head: see `StreamsServerOptions.headersTimeoutMs`. */
export const DEFAULT_HEADERS_TIMEOUT_MS = 20_000;
const CORP = new Set(['cross-origin', 'same-site', 'same-origin']);

/** Each option of {@link StreamsServerOptions}, once. */
const OPTION_NAMES: Readonly<Record<keyof StreamsServerOptions, true>> = {
  store: true,
  basePath: true,
  longPollTimeoutMs: true,
  sseMaxDurationMs: true,
  sseHeartbeatMs: true,
  maxBodyBytes: true,
  readMaxBytes: true,
  readMaxMessages: true,
  readConcurrency: true,
  readQueueTimeoutMs: true,
  sendTimeoutMs: true,
  requestTimeoutMs: true,
  headersTimeoutMs: true,
  health: true,
  cacheControl: true,
  corsOrigin: true,
  crossOriginResourcePolicy: true,
  log: true,
  logger: true,
  onError: true,
  subscriptions: true,
  telemetry: true,
};

export function resolveOptions(options: StreamsServerOptions): ResolvedOptions {
  const o = validateOptions<StreamsServerOptions>(source, 'options', options);
  if (options === undefined) throw source.invalid('options.store is required');
  validateOptionNames(source, 'options', o, OPTION_NAMES);
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
  const logger = loggerOf(o);
  const log = logOf(o, logger);
  const onError = o.onError;
  if (onError !== undefined && typeof onError !== 'function') throw source.invalid('options.onError must be a function');
  const requestTimeoutMs = int('requestTimeoutMs', DEFAULT_REQUEST_TIMEOUT_MS, 1, 24 * HOUR);
  // Node refuses a head's limit above the whole request's: cap the default, refuse a given one.
  const headersTimeoutMs = int('headersTimeoutMs', Math.min(DEFAULT_HEADERS_TIMEOUT_MS, requestTimeoutMs), 1, 24 * HOUR);
  if (headersTimeoutMs > requestTimeoutMs) throw source.invalid('options.headersTimeoutMs must be at most options.requestTimeoutMs');
  const health = o.health ?? defaultHealth(store);
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
    readConcurrency: int('readConcurrency', DEFAULT_READ_CONCURRENCY, 1, 10_000),
    readQueueTimeoutMs: int('readQueueTimeoutMs', DEFAULT_READ_QUEUE_TIMEOUT_MS, 1, HOUR),
    sendTimeoutMs: int('sendTimeoutMs', DEFAULT_SEND_TIMEOUT_MS, 1, 24 * HOUR),
    requestTimeoutMs,
    headersTimeoutMs,
    health,
    cacheControl,
    corsOrigin,
    crossOriginResourcePolicy: corp,
    log,
    logger,
    report: reporterOf(o, onError, logger),
    subscriptions: resolveSubscriptions(o.subscriptions),
    telemetry: validateBoolean(source, 'options.telemetry', o.telemetry, true),
  };
}

/**
 * Where background failures go: `onError`; else, for a server given a `log` function and no
 * `logger`, that function as text lines (what it always received); else the logger.
 */
function reporterOf(
  o: Pick<StreamsServerOptions, 'log' | 'logger'>,
  onError: ServerErrorHandler | undefined,
  logger: StreamsLogger,
): ServerReport {
  const log = o.log;
  if (onError !== undefined || o.logger !== undefined || typeof log !== 'function') return serverReporter(onError, logger);
  return (_operation, _err, message) => {
    const line = `${new Date().toISOString()} stowage-streams ${message.replace(/[\r\n]+/g, ' ')}`;
    try {
      log(line);
    } catch (err) {
      toStderr(`${line} [options.log threw: ${err instanceof Error ? err.message : String(err)}]`);
    }
  };
}

/** The store's own `health()` when it has one (it knows its backend); else a `head` of a reserved name. */
function defaultHealth(store: StreamStore): () => Promise<HealthResult> {
  const own = (store as Partial<Healthy>).health;
  if (typeof own === 'function') return () => own.call(store);
  return () => measureHealth(() => store.head('__ds/health'));
}

/** The `logger` option, checked and made safe to call; by default JSON lines on stderr from `warn` up. */
export function loggerOf(options: Pick<StreamsServerOptions, 'logger'>): StreamsLogger {
  const logger = options.logger;
  if (logger === undefined || logger === null) return jsonLogger({ level: 'warn' });
  if (!isLogger(logger)) throw source.invalid('options.logger must have info, warn, error and debug methods');
  return safeLogger(logger);
}

const toStderr = (line: string): void => void process.stderr.write(`${line}\n`);

/**
 * A refusal's message without what the client sent: quoted values (an offset, a header's value)
 * and a request target's query become `…`, so a 4xx line never carries a token a client put there.
 */
const withoutClientInput = (message: string): string => message.replace(/"(?:[^"\\]|\\.)*"/g, '"…"').replace(/\?[^\s;,]*/g, '?…');

/** The text line of the `log` option (what it always received): time, status, method, path, code, message. */
export const textOf = (e: ErrorLine): string =>
  `${new Date().toISOString()} stowage-streams ${e.status} ${e.method} ${e.path} ${e.code}: ${e.message}`;

/**
 * Where error lines go: the `log` option as text, nowhere with `false`, else the logger
 * (`warn` for 4xx, `error` for 5xx). A `log` function that throws does not fail the request:
 * the line goes to stderr, with why.
 */
export function logOf(options: Pick<StreamsServerOptions, 'log'>, logger: StreamsLogger): (entry: ErrorLine) => void {
  const log = options.log;
  if (log === false) return () => {};
  if (log === undefined || log === null) {
    return (e) => {
      const fields = {
        ...(e.reqId === undefined ? {} : { reqId: e.reqId }),
        method: e.method,
        path: e.path,
        status: e.status,
        code: e.code,
      };
      if (e.status >= 500) logger.error(fields, e.message);
      else logger.warn(fields, withoutClientInput(e.message));
    };
  }
  if (typeof log !== 'function') throw source.invalid('options.log must be a function or false');
  return (e) => {
    const line = textOf(e);
    try {
      log(line);
    } catch (err) {
      toStderr(`${line} [options.log threw: ${err instanceof Error ? err.message : String(err)}]`);
    }
  };
}
