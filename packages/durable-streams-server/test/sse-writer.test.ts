// The SSE writer's encoding: one data event per shared read for every reader (400 readers of
// one 8 MiB append each held their own copy and ran the server out of heap), and text split
// across reads inside a character still decoded by the reader's own decoder.
import type { ServerResponse } from 'node:http';
import type { StreamReadResult } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { endsOnCharacter, SseWriter, type SseEncoding } from '../src/sse.js';

/** What a writer wrote, chunk by chunk (a stand-in for the socket: only what the writer calls). */
function recorder(): { res: ServerResponse; chunks: Array<Buffer | string> } {
  const chunks: Array<Buffer | string> = [];
  const res = { cork() {}, uncork() {}, write: (chunk: Buffer | string) => void chunks.push(chunk) };
  return { res: res as unknown as ServerResponse, chunks };
}

const readOf = (bytes: Uint8Array): StreamReadResult =>
  ({ messages: [{ data: bytes, offset: '1' }], bytes, nextOffset: '1', atTail: true, closed: false }) as unknown as StreamReadResult;

const text = (chunks: Array<Buffer | string>): string => chunks.map((c) => c.toString()).join('');

describe('SseWriter', () => {
  for (const encoding of ['text', 'base64'] as SseEncoding[]) {
    it(`${encoding}: readers of one read write the same event buffer`, () => {
      const read = readOf(Buffer.from('héllo\nwörld '.repeat(1000)));
      const writers = Array.from({ length: 3 }, () => recorder());
      for (const w of writers) {
        const sse = new SseWriter(w.res, encoding);
        sse.data(read);
        sse.control({ streamNextOffset: '1', upToDate: true });
      }
      const events = writers.map((w) => w.chunks[0]);
      expect(events[0]).toBeInstanceOf(Buffer);
      expect(events[1]).toBe(events[0]);
      expect(events[2]).toBe(events[0]);
      const first = text(writers[0]!.chunks);
      if (encoding === 'text') expect(first.startsWith('event: data\ndata:héllo\ndata:wörld héllo\n')).toBe(true);
      else expect(first.startsWith(`event: data\ndata:${Buffer.from('héllo\nwörld ').toString('base64').slice(0, 12)}`)).toBe(true);
      expect(first.endsWith('event: control\ndata:{"streamNextOffset":"1","upToDate":true}\n\n')).toBe(true);
    });
  }

  it('text: a character split across two reads is decoded whole by the reader', () => {
    const e = Buffer.from('é'); // 0xc3 0xa9
    const w = recorder();
    const sse = new SseWriter(w.res, 'text');
    for (const bytes of [Buffer.from([0x61, e[0]!]), Buffer.from([e[1]!, 0x62]), Buffer.from('c')]) {
      sse.data(readOf(bytes));
      sse.control({ streamNextOffset: '1' });
    }
    const data = text(w.chunks)
      .split('\n')
      .filter((l) => l.startsWith('data:') && !l.startsWith('data:{'));
    expect(data).toEqual(['data:a', 'data:éb', 'data:c']);
  });

  it('endsOnCharacter: whole characters of 1 to 4 bytes, and cut ones', () => {
    for (const s of ['', 'a', 'é', '€', '😀', 'a😀']) expect(endsOnCharacter(Buffer.from(s)), s).toBe(true);
    for (const s of ['é', '€', '😀']) {
      const b = Buffer.from(s);
      for (let cut = 1; cut < b.length; cut++) expect(endsOnCharacter(b.subarray(0, cut)), `${s} cut at ${cut}`).toBe(false);
    }
    expect(endsOnCharacter(Buffer.from([0xa9]))).toBe(false); // a lone continuation byte: unsure
  });
});
