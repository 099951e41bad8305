import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { StowageError } from '@stowage/core';
import { rawStatusOf } from './raw-answer.js';

/** The levels of {@link jsonLogger}, least severe first; `silent` logs nothing. */
export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Fields of one log line (never a payload, a query string, a header value or a key). */
export type LogFields = Record<string, unknown>;

/**
 * What the server logs to: a pino-compatible logger. Each method is called as `(fields, msg)`,
 * the way pino's are; `child` (optional) binds the fields of one request (`reqId`).
 */
export interface StreamsLogger {
  debug(fields: LogFields, msg?: string): void;
  info(fields: LogFields, msg?: string): void;
  warn(fields: LogFields, msg?: string): void;
  error(fields: LogFields, msg?: string): void;
  child?(bindings: LogFields): StreamsLogger;
  /**
   * Whether lines of `level` are written now (pino's method of that name). When it says `info`
   * is off, the server skips building access lines. @default every level is on
   */
  isLevelEnabled?(level: Exclude<LogLevel, 'silent'>): boolean;
}

export interface JsonLoggerOptions {
  /** Lines below this level are dropped. @default 'info' */
  level?: LogLevel;
  /** Where `debug` and `info` lines go. @default process.stdout */
  out?: (line: string) => void;
  /** Where `warn` and `error` lines go. @default process.stderr */
  err?: (line: string) => void;
}

const toStdout = (line: string): void => void process.stdout.write(line);
const toStderr = (line: string): void => void process.stderr.write(line);

/**
 * A logger that writes one JSON object per line: `level` (its name), `time` (ISO 8601),
 * `msg`, then the fields. Info and debug lines on stdout, warnings and errors on stderr.
 */
export function jsonLogger(options: JsonLoggerOptions = {}): StreamsLogger {
  const level = options.level ?? 'info';
  if (!LOG_LEVELS.includes(level)) throw new TypeError(`log level must be one of ${LOG_LEVELS.join(', ')}`);
  return make(LOG_LEVELS.indexOf(level), {}, options.out ?? toStdout, options.err ?? toStderr);
}

function make(min: number, bindings: LogFields, out: (line: string) => void, err: (line: string) => void): StreamsLogger {
  const method =
    (name: Exclude<LogLevel, 'silent'>) =>
    (fields: LogFields, msg?: string): void => {
      const rank = LOG_LEVELS.indexOf(name);
      if (rank < min) return;
      const line = `${JSON.stringify({ level: name, time: new Date().toISOString(), msg: msg ?? '', ...bindings, ...fields })}\n`;
      (rank >= 2 ? err : out)(line);
    };
  return {
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    child: (more) => make(min, { ...bindings, ...more }, out, err),
    isLevelEnabled: (level) => LOG_LEVELS.indexOf(level) >= min,
  };
}

/**
 * `logger` made safe to call from a request or a timer: a method that throws (or a logger
 * without it) never fails the request; the line then goes to stderr as JSON, with why.
 */
export function safeLogger(logger: StreamsLogger): StreamsLogger {
  const fallback = jsonLogger({ level: 'debug' });
  const method =
    (name: Exclude<LogLevel, 'silent'>) =>
    (fields: LogFields, msg?: string): void => {
      try {
        logger[name](fields, msg);
      } catch (thrown) {
        fallback.error({ ...fields, loggerError: thrown instanceof Error ? thrown.message : String(thrown) }, msg);
      }
    };
  const enabled = logger.isLevelEnabled;
  return {
    debug: method('debug'),
    info: method('info'),
    warn: method('warn'),
    error: method('error'),
    isLevelEnabled: (level) => {
      if (typeof enabled !== 'function') return true;
      try {
        return enabled.call(logger, level) !== false;
      } catch {
        return true; // a broken check must not drop lines
      }
    },
  };
}

/** Whether `value` has the four methods of a {@link StreamsLogger}. */
export const isLogger = (value: unknown): value is StreamsLogger =>
  value !== null &&
  typeof value === 'object' &&
  ['debug', 'info', 'warn', 'error'].every((m) => typeof (value as Record<string, unknown>)[m] === 'function');

/** An incoming `X-Request-Id` kept as given: short, and only characters safe in a log line and a header. */
const SAFE_REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,64}$/;

const started = new WeakMap<IncomingMessage, { id: string; at: number }>();

/** The request's id: a safe incoming `X-Request-Id`, else a random UUID; one per request. */
export function requestIdOf(req: IncomingMessage): string {
  let entry = started.get(req);
  if (entry === undefined) {
    const given = req.headers['x-request-id'];
    entry = { id: typeof given === 'string' && SAFE_REQUEST_ID.test(given) ? given : randomUUID(), at: performance.now() };
    started.set(req, entry);
  }
  return entry.id;
}

/** The path of a request target without its query (which may carry cursors or tokens), bounded. */
export const pathOf = (url: string | undefined): string => (url ?? '').split('?', 1)[0]!.slice(0, 256);

/**
 * Once `res` is done (sent or cut): one `info` line, as pino-http writes: the request id,
 * method, path without query, status and duration; `aborted` when the response was cut.
 * A request the server answered on its socket (a 408 for a body that stalled) has that status.
 */
export function logAccess(logger: StreamsLogger, req: IncomingMessage, res: ServerResponse): void {
  // Asked per request, so a level changed at run time (pino's `logger.level`) takes effect.
  if (logger.isLevelEnabled?.('info') === false) return;
  const reqId = requestIdOf(req);
  res.once('close', () => {
    const at = started.get(req)?.at ?? performance.now();
    const raw = rawStatusOf(res);
    // A response cut before its head was sent has no status (statusCode would say 200).
    const status = raw ?? (res.headersSent ? res.statusCode : undefined);
    const fields: LogFields = {
      reqId,
      method: req.method ?? '-',
      path: pathOf(req.url),
      ...(status === undefined ? {} : { status }),
      durationMs: Math.round((performance.now() - at) * 10) / 10,
    };
    if (raw === undefined && !res.writableFinished) fields['aborted'] = true;
    logger.info(fields, 'request completed');
  });
}

/** What the server was doing in the background when it failed (see {@link ServerErrorHandler}). */
export interface ServerErrorContext {
  /**
   * What failed: `noteAppend`, `noteDelete`, `takeDue`, `webhook`, `reportDelivery`, `pullWake`
   * (subscriptions), `health` (the probe at start), `cleanupExpired`, `shutdown`, `signingKeys` (CLI).
   */
  operation: string;
  /** One line that says what failed, without payloads or secrets. */
  message: string;
}

/** Receives each failure of work no request awaits; called with the failure as a `StowageError`. */
export type ServerErrorHandler = (error: StowageError, context: ServerErrorContext) => void;

/** Reports one failure of background work; never throws. */
export type ServerReport = (operation: string, err: unknown, message: string) => void;

/**
 * The reporter of the server's background work: `onError` when given (one that throws is
 * logged with the failure), else one `error` line with the operation, the code and the message.
 */
export function serverReporter(onError: ServerErrorHandler | undefined, logger: StowageLoggerLike): ServerReport {
  return (operation, err, message) => {
    const error = StowageError.from(err);
    const line = (extra: LogFields = {}): void =>
      logger.error({ operation, code: error.code, ...extra }, `background ${operation} failed: ${oneLine(message)}`);
    if (onError === undefined) return line();
    try {
      onError(error, { operation, message: oneLine(message) });
    } catch (thrown) {
      line({ onErrorThrew: thrown instanceof Error ? thrown.message : String(thrown) });
    }
  };
}

type StowageLoggerLike = Pick<StreamsLogger, 'error'>;

const oneLine = (text: string): string => text.replace(/[\r\n]+/g, ' ').slice(0, 2048);
