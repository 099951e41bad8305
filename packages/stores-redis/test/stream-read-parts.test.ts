import { newNamespace } from '@stowage/conformance';
import { redisBackends } from '@stowage/conformance/backends';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisStreamStore } from '../src/index.js';
import { dropPrefix } from './helpers.js';

// A read larger than 1 MiB is made of several read scripts of at most 1 MiB each (more when
// one message is larger), so it never holds Redis, or the replies behind it, for long. The
// parts must join into exactly the read one script would have made.

const backends = await redisBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

const KiB = 1024;
/** The read rule: messages after `from`, while under `maxMessages` and within `maxBytes`, at least one. */
function expectedCount(sizes: number[], from: number, maxBytes: number, maxMessages: number): number {
  let count = 0;
  let bytes = 0;
  for (const size of sizes.slice(from)) {
    if (count === maxMessages || (count > 0 && bytes + size > maxBytes)) break;
    bytes += size;
    count++;
  }
  return count;
}

describe('reads made of several parts', () => {
  const client = new Redis(backends[0]!.url!);
  afterAll(() => client.quit());

  it('agree with the read rule at every size, offset and limit, through a fork chain', async () => {
    const prefix = newNamespace();
    const store = new RedisStreamStore({ client, prefix });
    try {
      // Sizes around the 1 MiB part: small, just under, just over, and one larger than a part.
      const sizes = [100, 300 * KiB, 700 * KiB, 1024 * KiB, 1, 1500 * KiB, 64 * KiB, 64 * KiB, 900 * KiB, 200 * KiB, 5, 2048 * KiB];
      const message = (i: number) => Buffer.alloc(sizes[i]!, i + 1);
      await store.create('s', { contentType: 'application/octet-stream' }, { messages: sizes.slice(0, 6).map((_, i) => message(i)) });
      await store.create('f', { contentType: 'application/octet-stream' }, { fork: { from: 's' } });
      for (let i = 6; i < sizes.length; i++) await store.append('f', [message(i)]);

      const limits = [1, 1024 * KiB, 1024 * KiB + 1, 2500 * KiB, 4096 * KiB, 16 * 1024 * KiB];
      let checked = 0;
      for (const from of [0, 1, 3, 5, 6, 9]) {
        for (const maxBytes of limits) {
          for (const maxMessages of [1, 3, 1000]) {
            const r = await store.read('f', from === 0 ? '-1' : offsetAt(from), { maxBytes, maxMessages });
            const count = expectedCount(sizes, from, maxBytes, maxMessages);
            const label = `from ${from}, maxBytes ${maxBytes}, maxMessages ${maxMessages}`;
            expect(
              r.messages.map((m) => m.data.byteLength),
              label,
            ).toEqual(sizes.slice(from, from + count));
            const fills = r.messages.map((m, i) => m.data.every((b) => b === from + i + 1));
            expect(fills, label).toEqual(fills.map(() => true));
            expect(Buffer.from(r.bytes!).equals(Buffer.concat(r.messages.map((m) => m.data))), label).toBe(true);
            expect(r.nextOffset, label).toBe(offsetAt(from + count));
            expect(r.atTail, label).toBe(from + count === sizes.length);
            checked++;
          }
        }
      }
      expect(checked).toBe(6 * 6 * 3);
    } finally {
      await store.close();
      await dropPrefix(client, prefix);
    }
  }, 60_000);

  it('a stream deleted and made again between two parts: the read stops at the first stream', async () => {
    const prefix = newNamespace();
    const store = new RedisStreamStore({ client, prefix });
    const octets = { contentType: 'application/octet-stream' };
    const fill = (byte: number) => Array.from({ length: 4 }, () => Buffer.alloc(600 * KiB, byte));
    try {
      await store.create('s', octets, { messages: fill(0x41) });
      // Between the first part and the second, a real delete and create on Redis.
      const parts = store as unknown as { readPart: (...a: unknown[]) => Promise<unknown> };
      const readPart = parts.readPart.bind(store);
      let calls = 0;
      parts.readPart = async (...a: unknown[]) => {
        if (calls++ === 1) {
          await store.delete('s');
          await store.create('s', octets, { messages: fill(0x42) });
        }
        return readPart(...a);
      };
      const r = await store.read('s', '-1', { maxBytes: 16 * 1024 * KiB, maxMessages: 1000 });
      const first = r.messages.map((m) => String.fromCharCode(m.data[0]!)).join('');
      expect([first, r.atTail, r.nextOffset]).toEqual(['A', false, offsetAt(1)]);
      expect(calls).toBe(2);
    } finally {
      await store.close();
      await dropPrefix(client, prefix);
    }
  });

  it('a 16 MiB read of 64 KiB messages is 16 scripts of 1 MiB', async () => {
    const prefix = newNamespace();
    // The scripts are counted, not timed: under MONITOR on a loaded machine 16 MiB may take over the default 2 s.
    const store = new RedisStreamStore({ client, prefix, timeoutMs: 30_000 });
    const monitor = await monitorOf(backends[0]!.url!);
    try {
      const data = Buffer.alloc(64 * KiB, 7);
      await store.create('big', { contentType: 'application/octet-stream' }, { messages: Array.from({ length: 300 }, () => data) });
      const reads: number[] = [];
      let marks = 0;
      monitor.on('monitor', (_time: string, args: string[]) => {
        if (args[0]?.toLowerCase() === 'echo' && args[1] === prefix) marks++;
        const op = args.indexOf('read'); // evalsha sha numkeys key ... op name position maxBytes maxMessages
        if (args[0]?.toLowerCase() === 'evalsha' && args[3]?.startsWith(prefix) && op > 0) reads.push(Number(args[op + 3]));
      });
      await seen(client, prefix, () => marks);
      const r = await store.read('big', '-1', { maxBytes: 16 * 1024 * KiB, maxMessages: 1000 });
      await seen(client, prefix, () => marks);
      expect(r.messages).toHaveLength(256);
      expect(reads).toHaveLength(16);
      expect(reads.every((maxBytes) => maxBytes === 1024 * KiB)).toBe(true);
    } finally {
      monitor.disconnect();
      await store.close();
      await dropPrefix(client, prefix);
    }
  }, 30_000);
});

const offsetAt = (position: number): string => `0000000000000000_${String(position).padStart(16, '0')}`;

/**
 * A MONITOR connection. ioredis's `monitor()` fails now and then as it starts ("Command queue
 * state error", a CI trial: another client's command shown before it knew it was monitoring);
 * it is then tried again. The client it is made from is not needed once it is made.
 */
async function monitorOf(url: string): Promise<Redis> {
  for (let attempt = 1; ; attempt++) {
    const client = new Redis(url);
    try {
      return await client.monitor();
    } catch (err) {
      if (attempt === 3) throw err;
    } finally {
      client.disconnect();
    }
  }
}

/** Sends a marker and waits until MONITOR has shown it: it has then shown every command before it. */
async function seen(client: Redis, marker: string, marks: () => number): Promise<void> {
  const before = marks();
  await client.echo(marker);
  for (let i = 0; i < 500 && marks() === before; i++) await new Promise((r) => setTimeout(r, 10));
  expect(marks()).toBe(before + 1);
}
