import { isOffset, OFFSET_NOW_SENTINEL, OFFSET_START_SENTINEL, type StreamProducer } from '@stowage/core';
import { ErrorSource } from '@stowage/core/adapter-kit';

/** Errors of the HTTP layer (bad headers, bad query): `INVALID_ARGUMENT` is answered 400. */
export const source = new ErrorSource('@stowage/durable-streams-server', 'StreamsServer');

/** Header names of the protocol's requests, as Node gives them (lower case). */
export const REQUEST_HEADER = {
  closed: 'stream-closed',
  ttl: 'stream-ttl',
  expiresAt: 'stream-expires-at',
  seq: 'stream-seq',
  forkedFrom: 'stream-forked-from',
  forkOffset: 'stream-fork-offset',
  forkSubOffset: 'stream-fork-sub-offset',
  producerId: 'producer-id',
  producerEpoch: 'producer-epoch',
  producerSeq: 'producer-seq',
} as const;

/**
 * Header names of the protocol's responses, spelled as the protocol spells them (names are
 * case-insensitive, RFC 9110 section 5.1; this is what `curl -i` shows).
 */
export const RESPONSE_HEADER = {
  nextOffset: 'Stream-Next-Offset',
  upToDate: 'Stream-Up-To-Date',
  cursor: 'Stream-Cursor',
  closed: 'Stream-Closed',
  ttl: 'Stream-TTL',
  expiresAt: 'Stream-Expires-At',
  sseEncoding: 'Stream-SSE-Data-Encoding',
  producerEpoch: 'Producer-Epoch',
  producerSeq: 'Producer-Seq',
  producerExpectedSeq: 'Producer-Expected-Seq',
  producerReceivedSeq: 'Producer-Received-Seq',
} as const;

/** Headers a browser may read from a cross-origin response. */
export const EXPOSED_HEADERS = [
  'Stream-Next-Offset',
  'Stream-Up-To-Date',
  'Stream-Cursor',
  'Stream-Closed',
  'Stream-TTL',
  'Stream-Expires-At',
  'Stream-SSE-Data-Encoding',
  'Producer-Epoch',
  'Producer-Seq',
  'Producer-Expected-Seq',
  'Producer-Received-Seq',
  'ETag',
  'Location',
  'X-Request-Id', // the request's id, so a page's logs can name it
].join(', ');

/** Request headers a browser may send cross-origin. */
export const ALLOWED_HEADERS = [
  'Content-Type',
  'Authorization',
  'If-None-Match',
  'Stream-TTL',
  'Stream-Expires-At',
  'Stream-Seq',
  'Stream-Closed',
  'Stream-Forked-From',
  'Stream-Fork-Offset',
  'Stream-Fork-Sub-Offset',
  'Producer-Id',
  'Producer-Epoch',
  'Producer-Seq',
  'X-Request-Id', // a page's own id for the request, echoed back and logged
].join(', ');

// A non-negative decimal integer without sign, leading zeros, point or exponent.
const DECIMAL = /^(?:0|[1-9][0-9]*)$/;
// RFC 3339 date-time (the `T` may be a space or lower case, as RFC 3339 allows).
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/**
 * An RFC 3339 timestamp as epoch ms, `NaN` unless it names a real instant: `Date.parse`
 * rolls `2099-02-30` over to March 2 and `24:00` to the next day, so the calendar fields
 * must come back as given.
 */
function parseTimestamp(raw: string): number {
  const m = RFC3339.exec(raw);
  if (m === null) return Number.NaN;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const fields = new Date(Date.UTC(year, month - 1, day, hour, minute, second));
  const real =
    fields.getUTCFullYear() === year &&
    fields.getUTCMonth() === month - 1 &&
    fields.getUTCDate() === day &&
    fields.getUTCHours() === hour &&
    fields.getUTCMinutes() === minute &&
    fields.getUTCSeconds() === second;
  return real ? Date.parse(raw) : Number.NaN;
}

/**
 * A request's headers, each with every value it was given (`req.headersDistinct`): Node
 * joins a repeated `Producer-Id` or `Stream-Seq` into `"a, b"` in `req.headers`, which would
 * pass for one value.
 */
export type RequestHeaders = NodeJS.Dict<string[]>;

/** The protocol's spelling of a request header Node gives in lower case (`stream-ttl` is `Stream-TTL`), for messages. */
function spelled(name: string): string {
  return ALLOWED_HEADERS.split(', ').find((h) => h.toLowerCase() === name) ?? name;
}

/** One value of a header: absent is `undefined`; a header given more than once is 400. */
export function single(headers: RequestHeaders, name: string): string | undefined {
  const values = headers[name];
  if (values === undefined) return undefined;
  if (values.length > 1) throw source.invalid(`${spelled(name)} must be given once, got it ${values.length} times`, { header: name });
  return values[0];
}

/** A protocol integer header (0 to 2^53 - 1), or `undefined` when absent. */
export function integerHeader(headers: RequestHeaders, name: string): number | undefined {
  const raw = single(headers, name);
  if (raw === undefined) return undefined;
  if (!DECIMAL.test(raw) || raw.length > 16 || !Number.isSafeInteger(Number(raw))) {
    throw source.invalid(
      `${spelled(name)} must be a decimal integer from 0 to 2^53-1 without sign or leading zeros, got ${JSON.stringify(raw.slice(0, 40))}`,
      {
        header: name,
      },
    );
  }
  return Number(raw);
}

/** `Stream-Closed`: only `true` closes; `false` or absence does not. */
export function closedHeader(headers: RequestHeaders): boolean {
  const raw = single(headers, REQUEST_HEADER.closed);
  if (raw === undefined) return false;
  const value = raw.trim().toLowerCase();
  if (value === 'true') return true;
  if (value === 'false') return false;
  throw source.invalid(`${REQUEST_HEADER.closed} must be true or false`, { header: REQUEST_HEADER.closed });
}

/** The TTL in ms and the absolute expiry (epoch ms) of a create request. */
export function expiryHeaders(headers: RequestHeaders): { ttlMs?: number; expiresAt?: number } {
  const ttl = integerHeader(headers, REQUEST_HEADER.ttl);
  const rawExpiry = single(headers, REQUEST_HEADER.expiresAt);
  if (ttl !== undefined && rawExpiry !== undefined) {
    throw source.invalid(`${REQUEST_HEADER.ttl} and ${REQUEST_HEADER.expiresAt} are exclusive`);
  }
  if (ttl !== undefined) {
    // A zero TTL would expire the stream as it is created: refused rather than guessed at.
    if (ttl === 0)
      throw source.invalid(`${REQUEST_HEADER.ttl} must be at least 1 second: 0 would expire the stream as it is created`, {
        header: REQUEST_HEADER.ttl,
      });
    return { ttlMs: ttl * 1000 };
  }
  if (rawExpiry !== undefined) {
    const at = parseTimestamp(rawExpiry);
    if (!Number.isFinite(at)) {
      throw source.invalid(
        `${REQUEST_HEADER.expiresAt} must be an RFC 3339 timestamp of a real date and time, got ${JSON.stringify(rawExpiry.slice(0, 40))}`,
        {
          header: REQUEST_HEADER.expiresAt,
        },
      );
    }
    // The same rule as a zero TTL, by this server's clock.
    if (at <= Date.now()) {
      throw source.invalid(`${REQUEST_HEADER.expiresAt} must be in the future: ${rawExpiry} would expire the stream as it is created`, {
        header: REQUEST_HEADER.expiresAt,
      });
    }
    return { expiresAt: at };
  }
  return {};
}

/** The idempotent producer claim: all three headers or none. */
export function producerHeaders(headers: RequestHeaders): StreamProducer | undefined {
  const id = single(headers, REQUEST_HEADER.producerId);
  const epoch = integerHeader(headers, REQUEST_HEADER.producerEpoch);
  const seq = integerHeader(headers, REQUEST_HEADER.producerSeq);
  if (id === undefined && epoch === undefined && seq === undefined) return undefined;
  if (id === undefined || epoch === undefined || seq === undefined) {
    throw source.invalid('Producer-Id, Producer-Epoch and Producer-Seq must be given together');
  }
  if (id.length === 0) throw source.invalid('Producer-Id must not be empty', { header: REQUEST_HEADER.producerId });
  return { id, epoch, seq };
}

/** Where a read starts: `-1` (the start), `now` (the tail) or an offset of this server. */
export function offsetParam(params: URLSearchParams): string | undefined {
  const all = params.getAll('offset');
  if (all.length === 0) return undefined;
  if (all.length > 1) throw source.invalid('offset must be given once');
  const offset: string = all[0]!;
  if (offset === OFFSET_START_SENTINEL || offset === OFFSET_NOW_SENTINEL || isOffset(offset)) return offset;
  throw source.invalid(`offset ${JSON.stringify(all[0]!.slice(0, 64))} is not an offset of this server, -1 or now`);
}

export type LiveMode = 'long-poll' | 'sse' | undefined;

export function liveParam(params: URLSearchParams): LiveMode {
  const all = params.getAll('live');
  if (all.length === 0) return undefined;
  if (all.length > 1) throw source.invalid('live must be given once');
  const live = all[0];
  if (live === 'long-poll' || live === 'sse') return live;
  throw source.invalid('live must be long-poll or sse');
}

/** The request's Content-Type, `undefined` when absent or blank. */
export function contentTypeOf(headers: RequestHeaders): string | undefined {
  const value = single(headers, 'content-type');
  return value === undefined || value.trim().length === 0 ? undefined : value;
}
