import { connect, type Socket } from 'node:net';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';
import { eventually, InstrumentedStore } from './instrumented-store.js';
import { parseResponses } from './raw-http.js';

const MESSAGE = 256 * 1024;
const MESSAGES = 256; // 64 MiB in all, one message per read (readMaxBytes = MESSAGE)
const TOTAL = MESSAGE * MESSAGES;
const letter = (i: number) => String.fromCharCode(97 + (i % 26));

/** Resumes a paused client socket and reads it to its close: the one response it carried. */
async function readToEnd(client: Socket) {
  const chunks: Buffer[] = [];
  client.on('data', (c: Buffer) => chunks.push(c));
  const ended = new Promise((r) => client.on('close', r));
  client.resume();
  await ended;
  return parseResponses(Buffer.concat(chunks), 'GET')[0];
}

/** Resolves once `value()` has not changed for `quietMs` (polled every 50 ms). */
async function settled(value: () => number, quietMs = 500): Promise<number> {
  let last = value();
  let since = Date.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 50));
    const now = value();
    if (now !== last) [last, since] = [now, Date.now()];
    else if (Date.now() - since >= quietMs) return now;
  }
}

// SSE clients at offset=-1 of a 64 MiB stream that do not read: the server must stop reading
// the store while the connection does not drain, not buffer the whole stream per client.
describe('SSE backpressure: a client that does not read', () => {
  const inner = new MemoryStreamStore();
  const store = new InstrumentedStore(inner);
  const serverSockets: Socket[] = [];
  const servers: StreamsServer[] = [];
  const lines: string[] = [];
  const open = async (sseMaxDurationMs: number, sendTimeoutMs?: number) => {
    const server = createStreamsServer({
      store,
      readMaxBytes: MESSAGE,
      sseMaxDurationMs,
      ...(sendTimeoutMs === undefined ? {} : { sendTimeoutMs }),
      log: (l) => lines.push(l),
    });
    server.server.on('connection', (s: Socket) => serverSockets.push(s));
    servers.push(server);
    return server.listen(0);
  };
  beforeAll(async () => {
    await store.create('big', { contentType: 'text/plain' });
    for (let i = 0; i < MESSAGES; i++) await store.append('big', [Buffer.alloc(MESSAGE, letter(i))]);
    await store.closeStream('big');
  }, 60_000);
  afterAll(async () => {
    for (const s of servers) await s.close(100);
    await inner.close();
  });

  /**
   * A connection that asks for the whole stream over SSE and reads nothing until told; with
   * the server's side of it.
   */
  const stalledClient = async (base: string): Promise<{ client: Socket; server: Socket }> => {
    const before = serverSockets.length;
    const client = connect(Number(new URL(base).port), '127.0.0.1');
    client.pause();
    client.on('error', () => {});
    client.write('GET /big?offset=-1&live=sse HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    expect(await eventually(() => serverSockets.length > before)).toBe(true);
    return { client, server: serverSockets.at(-1)! };
  };

  it('stops reading the store while the client does not drain, then delivers every byte in order once it reads', async () => {
    const base = await open(60_000);
    const reads = store.readsStarted;
    const { client, server } = await stalledClient(base);
    const stalledReads = (await settled(() => store.readsStarted)) - reads;
    const written = server.bytesWritten;
    // What the kernel's socket buffers hold, and one batch more: far from the stream's 64 MiB.
    expect(stalledReads).toBeLessThan(MESSAGES / 2);
    expect(written).toBeLessThan(TOTAL / 2);

    const response = await readToEnd(client);
    expect(response!.status).toBe(200);
    let text = '';
    for (const event of response!.body.toString('latin1').split('\n\n')) {
      if (!event.startsWith('event: data\n')) continue;
      for (const line of event.split('\n').slice(1)) text += line.slice('data:'.length);
    }
    expect(text.length).toBe(TOTAL);
    for (let i = 0; i < MESSAGES; i++) expect(text[i * MESSAGE]! + text[(i + 1) * MESSAGE - 1]).toBe(letter(i) + letter(i));
    expect(store.readsStarted - reads).toBe(MESSAGES); // one per message, the last one at the closed tail
  }, 60_000);

  it('ends when the client goes away while it is not draining: no more reads', async () => {
    const base = await open(60_000);
    const reads = store.readsStarted;
    const { client, server } = await stalledClient(base);
    const stalledReads = (await settled(() => store.readsStarted)) - reads;
    client.destroy();
    expect(await eventually(() => server.destroyed)).toBe(true);
    expect((await settled(() => store.readsStarted)) - reads).toBe(stalledReads);
    expect(stalledReads).toBeLessThan(MESSAGES / 2);
  }, 60_000);

  it('many readers not draining at once: no listener piles up on a signal they share', async () => {
    const base = await open(60_000);
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.name);
    process.on('warning', onWarning);
    try {
      // Node warns at the 11th listener of one event on one target.
      const stalled = await Promise.all(Array.from({ length: 12 }, () => stalledClient(base)));
      await settled(() => store.readsStarted);
      for (const { client } of stalled) client.destroy();
      expect(await eventually(() => stalled.every(({ server }) => server.destroyed))).toBe(true);
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  }, 60_000);

  it('is cut once it takes nothing for sendTimeoutMs, mid-response, freeing what waits for it: one line', async () => {
    lines.length = 0;
    // The response's own time (60 s) is far off; the send limit of every response (300 ms) cuts it.
    const base = await open(60_000, 300);
    const { client, server } = await stalledClient(base);
    expect(await eventually(() => server.destroyed, 5000)).toBe(true);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ 200 GET \/big SEND_TIMEOUT: .* within 300 ms \(sendTimeoutMs\): connection cut$/);
    client.destroy();
  }, 60_000);

  it('a stall that outlasts the response (sseMaxDurationMs) but not sendTimeoutMs is not cut: every byte comes', async () => {
    lines.length = 0;
    // 300 ms of response, 30 s of send limit (the default): the client stalls past the first.
    const base = await open(300);
    const { client, server } = await stalledClient(base);
    await settled(() => store.readsStarted);
    expect(server.destroyed).toBe(false);
    const response = await readToEnd(client);
    expect(response!.status).toBe(200);
    let length = 0;
    for (const event of response!.body.toString('latin1').split('\n\n')) {
      if (event.startsWith('event: data\n')) for (const line of event.split('\n').slice(1)) length += line.length - 'data:'.length;
    }
    expect(length).toBe(TOTAL);
    expect(lines).toEqual([]);
  }, 60_000);
});
