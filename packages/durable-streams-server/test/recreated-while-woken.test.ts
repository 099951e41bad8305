import type { StreamStore } from '@stowage/core';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterEach, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';

/**
 * A live reader is woken by an append; before its read, another replica deletes the stream and
 * makes the name again. Its read, by name, then found the new stream: its data at the old
 * offset (200), or its offset past the new tail (400). Two servers on one store stand for two
 * replicas; the reader's replica reads late (its reads wait while `slow` is set), as a loaded
 * replica does.
 */
let slow: Promise<void> | undefined;
const shared = new MemoryStreamStore();
const lagging = new Proxy(shared, {
  get(target, property, receiver) {
    if (property === 'read') {
      return async (...args: Parameters<StreamStore['read']>) => {
        await slow;
        return target.read(...args);
      };
    }
    const value: unknown = Reflect.get(target, property, receiver);
    return typeof value === 'function' ? value.bind(target) : value;
  },
});

let servers: StreamsServer[] = [];
afterEach(async () => {
  for (const s of servers) await s.close();
  servers = [];
  slow = undefined;
});

async function replicas(): Promise<{ writer: string; reader: string; readerServer: StreamsServer }> {
  const a = createStreamsServer({ store: shared, logger: quiet });
  const b = createStreamsServer({ store: lagging, logger: quiet });
  servers.push(a, b);
  return { writer: await a.listen(0), reader: await b.listen(0), readerServer: b };
}
const none = () => {};
const quiet = { debug: none, info: none, warn: none, error: none };
const text = { 'Content-Type': 'text/plain' };
const until = async (ready: () => boolean) => {
  for (let i = 0; i < 500 && !ready(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ready()).toBe(true);
};

describe('a reader woken just before its stream was deleted and made again', () => {
  for (const [label, before, after] of [
    ['the new stream is longer than the old offset', 1, 3],
    ['the old offset is past the new stream’s tail', 5, 1],
  ] as const) {
    it(`long-poll: 404, not the new stream (${label})`, async () => {
      const { writer, reader, readerServer } = await replicas();
      const name = `/s-${before}-${after}`;
      await fetch(`${writer}${name}`, { method: 'PUT', headers: text });
      for (let i = 0; i < before; i++) await fetch(`${writer}${name}`, { method: 'POST', headers: text, body: 'old' });
      const tail = (await fetch(`${writer}${name}`, { method: 'HEAD' })).headers.get('stream-next-offset')!;
      const poll = fetch(`${reader}${name}?offset=${encodeURIComponent(tail)}&live=long-poll`).then(async (r) => [
        r.status,
        await r.text(),
      ]);
      await until(() => readerServer.handler.waitingReaders === 1);
      let release!: () => void;
      slow = new Promise((r) => (release = r));
      expect((await fetch(`${writer}${name}`, { method: 'POST', headers: text, body: 'woke' })).status).toBe(204);
      expect((await fetch(`${writer}${name}`, { method: 'DELETE' })).status).toBe(204);
      expect((await fetch(`${writer}${name}`, { method: 'PUT', headers: text })).status).toBe(201);
      for (let i = 0; i < after; i++) await fetch(`${writer}${name}`, { method: 'POST', headers: text, body: 'new' });
      release();
      const [status, body] = await poll;
      expect([status, String(body).includes('new')]).toEqual([404, false]);
    });
  }

  it('SSE: the response ends without the new stream’s data', async () => {
    const { writer, reader, readerServer } = await replicas();
    await fetch(`${writer}/sse`, { method: 'PUT', headers: text, body: 'old' });
    const tail = (await fetch(`${writer}/sse`, { method: 'HEAD' })).headers.get('stream-next-offset')!;
    const events = fetch(`${reader}/sse?offset=${encodeURIComponent(tail)}&live=sse`).then((r) => r.text());
    await until(() => readerServer.handler.waitingReaders === 1);
    let release!: () => void;
    slow = new Promise((r) => (release = r));
    await fetch(`${writer}/sse`, { method: 'POST', headers: text, body: 'woke' });
    await fetch(`${writer}/sse`, { method: 'DELETE' });
    await fetch(`${writer}/sse`, { method: 'PUT', headers: text });
    for (let i = 0; i < 3; i++) await fetch(`${writer}/sse`, { method: 'POST', headers: text, body: 'new' });
    release();
    const got = await events;
    expect(got).not.toContain('new');
  });
});
