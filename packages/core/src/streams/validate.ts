import type { StreamAppendOptions, StreamConfig, StreamCreateOptions, StreamProducer, StreamReadOptions } from '../contracts/stream.js';
import type { ErrorSource } from '../errors.js';
import {
  validateBoolean,
  validateBytes,
  validateDuration,
  validateInteger,
  validateKey,
  validateOptions,
  validateTimestamp,
} from '../validate.js';
import { normalizeContentType, parseOffset } from './offsets.js';

/** Default size limits of stream stores. */
export const STREAM_DEFAULTS = Object.freeze({
  /** Largest single message. */
  maxMessageBytes: 8 * 1024 * 1024,
  /** Most messages in one append. */
  maxBatchMessages: 10_000,
  /** Default `read` limits. */
  readMaxBytes: 1024 * 1024,
  readMaxMessages: 1000,
});

const MAX_CONTENT_TYPE_BYTES = 256;

export interface ValidatedStreamConfig {
  contentType: string | undefined;
  mediaType: string | undefined;
  ttlMs: number | undefined;
  expiresAt: number | undefined;
  closed: boolean;
}

export interface ValidatedFork {
  from: string;
  position: number | undefined;
  subOffset: number;
  prefix: Uint8Array | undefined;
}

/** An HTTP token (RFC 9110 §5.6.2), as a regular expression's source: a method, a header name, a media type's parts. */
export const HTTP_TOKEN = "[\\w!#$%&'*+.^`|~-]+";
const QUOTED = '"(?:[^"\\\\]|\\\\.)*"';
/** RFC 9110 §8.3.1: `type/subtype` of tokens, then `; name=value` parameters (empty ones allowed). */
const CONTENT_TYPE = new RegExp(
  `^[\\t ]*${HTTP_TOKEN}/${HTTP_TOKEN}(?:[\\t ]*;[\\t ]*(?:${HTTP_TOKEN}=(?:${HTTP_TOKEN}|${QUOTED}))?)*[\\t ]*$`,
);

function validateContentType(source: ErrorSource, field: string, value: unknown): string {
  if (typeof value !== 'string' || value.trim().length === 0 || value.length > MAX_CONTENT_TYPE_BYTES) {
    throw source.invalid(`${field} must be a non-empty media type of at most ${MAX_CONTENT_TYPE_BYTES} characters`, {
      field,
    });
  }
  // An HTTP field value: printable ASCII and tabs (whitespace around parameters), nothing else.
  if (!/^[\t\x20-\x7e]+$/.test(value)) throw source.invalid(`${field} must be printable ASCII`, { field });
  // A media type, `type/subtype` of HTTP tokens, then parameters: `;;;` or `text` names none.
  if (!CONTENT_TYPE.test(value)) {
    throw source.invalid(`${field} must be a media type such as text/plain, with parameters as name=value`, { field });
  }
  // `*/*` and `text/*` are ranges a client accepts (Accept), not a type a body has.
  if (normalizeContentType(value).split('/').includes('*')) {
    throw source.invalid(`${field} must name one media type, not a range such as */*`, { field });
  }
  return value;
}

export function validateStreamConfig(source: ErrorSource, config: unknown, isFork: boolean): ValidatedStreamConfig {
  if (config === null || typeof config !== 'object') throw source.invalid('config must be an object');
  const c = config as StreamConfig;
  const contentType = c.contentType === undefined && isFork ? undefined : validateContentType(source, 'config.contentType', c.contentType);
  if (c.ttlMs !== undefined && c.expiresAt !== undefined) {
    throw source.invalid('config.ttlMs and config.expiresAt are exclusive');
  }
  const ttlMs = c.ttlMs === undefined ? undefined : validateDuration(source, 'config.ttlMs', c.ttlMs);
  const expiresAt = c.expiresAt === undefined ? undefined : validateTimestamp(source, 'config.expiresAt', c.expiresAt);
  const closed = validateBoolean(source, 'config.closed', c.closed, false);
  return {
    contentType,
    mediaType: contentType === undefined ? undefined : normalizeContentType(contentType),
    ttlMs,
    expiresAt,
    closed,
  };
}

export function validateMessages(
  source: ErrorSource,
  field: string,
  messages: unknown,
  maxMessageBytes: number,
  allowEmptyBatch: boolean,
): readonly Uint8Array[] {
  if (!Array.isArray(messages)) throw source.invalid(`${field} must be an array of Uint8Array`, { field });
  if (!allowEmptyBatch && messages.length === 0) throw source.invalid(`${field} must hold at least one message`, { field });
  if (messages.length > STREAM_DEFAULTS.maxBatchMessages) {
    throw source.error('PAYLOAD_TOO_LARGE', `${field} holds over ${STREAM_DEFAULTS.maxBatchMessages} messages`);
  }
  for (let i = 0; i < messages.length; i++) {
    const m = validateBytes(source, `${field}[${i}]`, messages[i], maxMessageBytes);
    if (m.byteLength === 0) throw source.invalid(`${field}[${i}] is empty; messages hold at least one byte`, { field });
  }
  return messages as readonly Uint8Array[];
}

export function validateCreateOptions(
  source: ErrorSource,
  opts: unknown,
  maxMessageBytes: number,
): { messages: readonly Uint8Array[]; fork: ValidatedFork | undefined } {
  const o = validateOptions<StreamCreateOptions>(source, 'opts', opts);
  const messages = o.messages === undefined ? [] : validateMessages(source, 'opts.messages', o.messages, maxMessageBytes, true);
  if (o.fork === undefined) return { messages, fork: undefined };
  const f = validateOptions<NonNullable<StreamCreateOptions['fork']>>(source, 'opts.fork', o.fork);
  const from = validateKey(source, 'opts.fork.from', f.from);
  const position = f.offset === undefined ? undefined : parseOffset(source, 'opts.fork.offset', f.offset);
  const subOffset = f.subOffset === undefined ? 0 : validateInteger(source, 'opts.fork.subOffset', f.subOffset, 0, Number.MAX_SAFE_INTEGER);
  let prefix: Uint8Array | undefined;
  if (subOffset > 0) {
    if (f.prefix === undefined) throw source.invalid('opts.fork.prefix is required when opts.fork.subOffset > 0');
    prefix = validateBytes(source, 'opts.fork.prefix', f.prefix, maxMessageBytes);
    if (prefix.byteLength === 0) prefix = undefined;
  } else if (f.prefix !== undefined) {
    throw source.invalid('opts.fork.prefix needs opts.fork.subOffset > 0');
  }
  return { messages, fork: { from, position, subOffset, prefix } };
}

export function validateProducer(source: ErrorSource, value: unknown): StreamProducer {
  const p = validateOptions<StreamProducer>(source, 'producer', value);
  return {
    id: validateKey(source, 'producer.id', p.id),
    epoch: validateInteger(source, 'producer.epoch', p.epoch, 0, Number.MAX_SAFE_INTEGER),
    seq: validateInteger(source, 'producer.seq', p.seq, 0, Number.MAX_SAFE_INTEGER),
  };
}

export interface ValidatedAppendOptions {
  mediaType: string | undefined;
  seq: string | undefined;
  producer: StreamProducer | undefined;
  close: boolean;
}

export function validateAppendOptions(source: ErrorSource, opts: unknown): ValidatedAppendOptions {
  const o = validateOptions<StreamAppendOptions>(source, 'opts', opts);
  const close = validateBoolean(source, 'opts.close', o.close, false);
  return {
    mediaType:
      o.contentType === undefined ? undefined : normalizeContentType(validateContentType(source, 'opts.contentType', o.contentType)),
    seq: o.seq === undefined ? undefined : validateKey(source, 'opts.seq', o.seq),
    producer: o.producer === undefined ? undefined : validateProducer(source, o.producer),
    close,
  };
}

export function validateReadOptions(source: ErrorSource, opts: unknown): { maxBytes: number; maxMessages: number; readOnly: boolean } {
  const o = validateOptions<StreamReadOptions>(source, 'opts', opts);
  return {
    maxBytes:
      o.maxBytes === undefined
        ? STREAM_DEFAULTS.readMaxBytes
        : validateInteger(source, 'opts.maxBytes', o.maxBytes, 1, Number.MAX_SAFE_INTEGER),
    maxMessages:
      o.maxMessages === undefined
        ? STREAM_DEFAULTS.readMaxMessages
        : validateInteger(source, 'opts.maxMessages', o.maxMessages, 1, 1_000_000),
    readOnly: validateBoolean(source, 'opts.readOnly', o.readOnly, false),
  };
}
