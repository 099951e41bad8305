import { normalizeContentType } from '@stowage/core/adapter-kit';
import { source } from './protocol.js';

/** Whether a media type is JSON mode's (`application/json`, any parameters). */
export const isJsonType = (contentType: string): boolean => normalizeContentType(contentType) === 'application/json';

/**
 * JSON mode. A POST body is validated, then stored as ONE message: the values it appends
 * (the elements of a top-level array, else the body itself) as their original text joined
 * by commas. A read wraps the messages of its range in `[` `]`. Offsets therefore advance
 * per request, and a fork's sub-offset counts values inside one such message.
 *
 * Values keep their exact text (no parse/stringify round trip): numbers beyond 2^53 and
 * key order survive.
 */

const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;

const isSpace = (c: number): boolean => c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;

/**
 * The elements of the JSON array held in `text[start, end)` (which must be valid JSON),
 * as [start, end) pairs with surrounding whitespace trimmed.
 */
function arrayElements(text: Buffer, start: number, end: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let i = start + 1; // past '['
  let depth = 0;
  let from = -1;
  for (; i < end; i++) {
    const c = text[i]!;
    if (c === QUOTE) {
      if (from < 0) from = i;
      for (i++; text[i] !== QUOTE; i++) if (text[i] === BACKSLASH) i++;
      continue;
    }
    if (depth === 0 && (c === COMMA || c === CLOSE_BRACKET)) {
      if (from >= 0) {
        let to = i;
        while (isSpace(text[to - 1]!)) to--;
        out.push([from, to]);
      }
      from = -1;
      if (c === CLOSE_BRACKET) break;
      continue;
    }
    if (c === OPEN_BRACKET || c === OPEN_BRACE) depth++;
    else if (c === CLOSE_BRACKET || c === CLOSE_BRACE) depth--;
    if (from < 0 && !isSpace(c)) from = i;
  }
  return out;
}

function trimmed(body: Buffer): [number, number] {
  let start = 0;
  let end = body.length;
  while (start < end && isSpace(body[start]!)) start++;
  while (end > start && isSpace(body[end - 1]!)) end--;
  return [start, end];
}

// Fatal: invalid UTF-8 throws instead of becoming U+FFFD. A byte order mark is kept, so
// JSON.parse refuses it: stored, it would not be JSON text inside the array of a read.
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function validate(body: Buffer): void {
  let text: string;
  try {
    text = UTF8.decode(body);
  } catch {
    throw source.invalid('the body is not valid UTF-8 (JSON text is UTF-8, RFC 8259 section 8.1)');
  }
  try {
    JSON.parse(text);
  } catch {
    throw source.invalid('the body is not valid JSON');
  }
}

/**
 * The message a JSON POST/PUT body appends: `undefined` for `[]` (nothing to append).
 * A body that is not UTF-8 JSON text is `INVALID_ARGUMENT`.
 */
export function jsonBodyMessage(body: Buffer): Buffer | undefined {
  validate(body);
  const [start, end] = trimmed(body);
  if (body[start] !== OPEN_BRACKET) return body.subarray(start, end);
  const elements = arrayElements(body, start, end);
  if (elements.length === 0) return undefined;
  if (elements.length === 1) return body.subarray(elements[0]![0], elements[0]![1]);
  const parts: Buffer[] = [];
  for (let i = 0; i < elements.length; i++) {
    if (i > 0) parts.push(COMMA_BYTES);
    parts.push(body.subarray(elements[i]![0], elements[i]![1]));
  }
  return Buffer.concat(parts);
}

const COMMA_BYTES = Buffer.from(',');
const OPEN = Buffer.from('[');
const CLOSE = Buffer.from(']');
const EMPTY_ARRAY = Buffer.from('[]');

/** How many values a stored JSON message holds, and the message cut after the first `count`. */
export function jsonPrefix(message: Uint8Array, count: number): { values: number; prefix: Buffer } {
  const wrapped = Buffer.concat([OPEN, message, CLOSE]);
  const elements = arrayElements(wrapped, 0, wrapped.length);
  const cut = count === 0 ? 0 : elements[Math.min(count, elements.length) - 1]![1];
  return { values: elements.length, prefix: wrapped.subarray(1, Math.max(1, cut)) };
}

/** The response body of a JSON read: the messages' values as one array (one allocation). */
export function jsonArray(messages: readonly { data: Uint8Array }[]): Buffer {
  const n = messages.length;
  if (n === 0) return EMPTY_ARRAY;
  const parts: Uint8Array[] = new Array(n);
  let size = n + 1; // brackets and commas
  for (let i = 0; i < n; i++) size += (parts[i] = messages[i]!.data).byteLength;
  const out = Buffer.allocUnsafe(size);
  out[0] = OPEN_BRACKET;
  let at = 1;
  for (let i = 0; i < n; i++) {
    if (i > 0) out[at++] = COMMA;
    out.set(parts[i]!, at);
    at += parts[i]!.byteLength;
  }
  out[at] = CLOSE_BRACKET;
  return out;
}
