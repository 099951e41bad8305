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

/** Writes the events of one SSE response. */
export class SseWriter {
  private readonly decoder = new TextDecoder('utf-8');
  /** A data event waiting for its control event: the two go out in one write (one send per reader woken). */
  private pending = '';

  constructor(
    private readonly res: ServerResponse,
    private readonly encoding: SseEncoding,
  ) {}

  /** One data event for a read's messages; a control event must follow it. */
  data(read: StreamReadResult): void {
    let payload: string;
    if (this.encoding === 'json') payload = jsonArray(read.messages).toString('utf8');
    else if (this.encoding === 'base64') payload = readBytes(read).toString('base64');
    else payload = this.decoder.decode(readBytes(read), { stream: true });
    let event = 'event: data\n';
    for (const line of payload.split(LINE_BREAK)) event += `data:${line}\n`;
    this.pending += `${event}\n`;
  }

  control(control: ControlEvent): void {
    const events = `${this.pending}event: control\ndata:${JSON.stringify(control)}\n\n`;
    this.pending = '';
    this.res.write(events);
  }

  /** A comment: keeps idle proxies from closing the connection. */
  heartbeat(): void {
    this.res.write(': \n\n');
  }
}
