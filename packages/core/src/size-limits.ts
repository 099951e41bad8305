import type { ErrorSource } from './errors.js';
import { DEFAULT_MAX_RESPONSE_BYTES } from './idempotency.js';
import { STREAM_DEFAULTS } from './streams/validate.js';
import { validateInteger } from './validate.js';

/** The size limit every session store takes. */
export interface SessionSizeOptions {
  /** Largest `data` accepted, in bytes. @default 1048576 (1 MiB) */
  maxDataBytes?: number | undefined;
}

/** The size limit every idempotency store takes. */
export interface IdempotencySizeOptions {
  /** Largest stored response (body plus header bytes). @default 1048576 (1 MiB) */
  maxResponseBytes?: number | undefined;
}

/** The size limit every JWKS cache store takes. */
export interface JwksSizeOptions {
  /** Largest document accepted, in UTF-8 bytes. @default 1048576 (1 MiB) */
  maxDocumentBytes?: number | undefined;
}

/** The size limit every stream store takes. */
export interface StreamSizeOptions {
  /** Largest single message, in bytes. @default 8388608 (8 MiB) */
  maxMessageBytes?: number | undefined;
}

type SizeOptions = SessionSizeOptions & IdempotencySizeOptions & JwksSizeOptions & StreamSizeOptions;

/** Each size limit's default and least value (a stream message of 0 bytes cannot be stored). */
const LIMITS: Readonly<Record<keyof SizeOptions, { fallback: number; least: number }>> = {
  maxDataBytes: { fallback: 1024 * 1024, least: 0 },
  maxResponseBytes: { fallback: DEFAULT_MAX_RESPONSE_BYTES, least: 0 },
  maxDocumentBytes: { fallback: 1024 * 1024, least: 0 },
  maxMessageBytes: { fallback: STREAM_DEFAULTS.maxMessageBytes, least: 1 },
};

/** `options[name]`, validated as `options.<name>` (an integer, at least its least value), or its default. */
export function sizeLimit(source: ErrorSource, options: SizeOptions, name: keyof SizeOptions): number {
  const value = options[name];
  const { fallback, least } = LIMITS[name];
  return value === undefined ? fallback : validateInteger(source, `options.${name}`, value, least);
}
