import type { ServerResponse } from 'node:http';
import type { StreamReadResult } from '@stowage/core';
import { readBytes } from './bytes.js';
import { jsonArray } from './json.js';

/** How data events carry bytes: JSON arrays, UTF-8 text lines, or base64 for anything else. */
export type SseEncoding = 'json' | 'text' | 'base64';

export function sseEncoding(mediaType: string): SseEncoding {
  if (mediaType === 'application/json') return 'json';
  if (mediaType.startsWith('text/')) return 'text';
  return 'base64';
}

export interface ControlEvent {
  streamNextOffset: string;
  streamCursor?: string;
  upToDate?: true;
  streamClosed?: true;
}

// Every line terminator SSE knows; each line of a payload becomes its own `data:` field, so
// a payload can never end an event or start a forged one.
const LINE_BREAK = /\r\n|\r|\n/;

/** The data event of `payload`: each of its lines a `data:` field, then the blank line. */
function dataEvent(payload: string): Buffer {
  let event = 'event: data\n';
  for (const line of payload.split(LINE_BREAK)) event += `data:${line}\n`;
  return Buffer.from(`${event}\n`);
}

/**
 * Whether `bytes` ends on a whole UTF-8 character: a streaming decoder then keeps nothing back,
 * so decoding them alone gives the same text. False when unsure (only continuation bytes).
 */
export function endsOnCharacter(bytes: Uint8Array): boolean {
  const n = bytes.length;
  if (n === 0 || bytes[n - 1]! < 0x80) return true;
  for (let back = 1; back <= Math.min(4, n); back++) {
    const b = bytes[n - back]!;
    if ((b & 0xc0) === 0x80) continue; // a continuation byte: look further back
    const length = b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : b >= 0xc0 ? 2 : 1;
    return length === back;
  }
  return false;
}

/**
 * The data events of reads shared by many readers (the readers woken by one append share its
 * read): encoded once, written to every response as the same `Buffer`. Encoding per reader
 * held a copy of the payload per reader: 400 SSE readers of one 8 MiB append ran the server
 * out of heap. Kept as long as the read result is.
 */
/** Decodes whole text (never streaming, so it keeps no state between calls). */
const WHOLE_TEXT = new TextDecoder('utf-8');

const encoded = new WeakMap<StreamReadResult, Partial<Record<SseEncoding, Buffer>>>();

function sharedEvent(read: StreamReadResult, encoding: SseEncoding, encode: () => string): Buffer {
  let byEncoding = encoded.get(read);
  if (byEncoding === undefined) encoded.set(read, (byEncoding = {}));
  return (byEncoding[encoding] ??= dataEvent(encode()));
}

/** Writes the events of one SSE response. */
export class SseWriter {
  private readonly decoder = new TextDecoder('utf-8');
  /** Whether the text decoder holds no part of a character (then a read's text can be shared). */
  private whole = true;
  /** A data event waiting for its control event: the two go out together (one send per reader woken). */
  private pending: Buffer | undefined;

  constructor(
    private readonly res: ServerResponse,
    private readonly encoding: SseEncoding,
  ) {}

  /** One data event for a read's messages; a control event must follow it. */
  data(read: StreamReadResult): void {
    if (this.encoding === 'json') this.pending = sharedEvent(read, 'json', () => jsonArray(read.messages).toString('utf8'));
    else if (this.encoding === 'base64') this.pending = sharedEvent(read, 'base64', () => readBytes(read).toString('base64'));
    else {
      const bytes = readBytes(read);
      if (this.whole && endsOnCharacter(bytes)) this.pending = sharedEvent(read, 'text', () => WHOLE_TEXT.decode(bytes));
      else {
        // A character split across reads: this reader's own decoder carries its start over.
        this.pending = dataEvent(this.decoder.decode(bytes, { stream: true }));
        this.whole = endsOnCharacter(bytes);
      }
    }
  }

  control(control: ControlEvent): void {
    const text = `event: control\ndata:${JSON.stringify(control)}\n\n`;
    const data = this.pending;
    this.pending = undefined;
    if (data === undefined) {
      this.res.write(text);
      return;
    }
    this.res.cork();
    this.res.write(data);
    this.res.write(text);
    this.res.uncork();
  }

  /** A comment: keeps idle proxies from closing the connection. */
  heartbeat(): void {
    this.res.write(': \n\n');
  }
}
