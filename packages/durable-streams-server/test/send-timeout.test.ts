import { connect, type Socket } from 'node:net';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer, type StreamsServerOptions } from '../src/index.js';
import { eventually } from './instrumented-store.js';
import { parseResponses } from './raw-http.js';

const MIB = 1024 * 1024;
const SEND_TIMEOUT_MS = 1000;
const letter = (i: number) => String.fromCharCode(97 + (i % 26));

// Responses a client does not take: the server cuts the connection once a write has waited
// `sendTimeoutMs`, with one log line, rather than hold the response's data (up to 16 MiB by
// default) for as long as the client keeps its connection open. The kernel's socket buffers
// take a few MB of a response before the rest waits in the server: the bodies here are larger.
describe('sendTimeoutMs: a response the client does not take', () => {
  const store = new MemoryStreamStore();
  const lines: string[] = [];
  const serverSockets: Socket[] = [];
  const servers: StreamsServer[] = [];
  const open = (options: Omit<StreamsServerOptions, 'store' | 'log'>) => {
    const server = createStreamsServer({ store, log: (l) => lines.push(l), ...options });
    server.server.on('connection', (s: Socket) => serverSockets.push(s));
    servers.push(server);
    return server.listen(0);
  };
  let base = '';
  beforeAll(async () => {
    // Each stream is 16 or 32 MiB of 1 MiB messages, a letter each.
    const fill = async (name: string, mib: number, contentType: string) => {
      await store.create(name, { contentType });
      for (let i = 0; i < mib; i++) await store.append(name, [Buffer.alloc(MIB, letter(i))]);
    };
    await fill('big', 32, 'application/octet-stream');
    await fill('closed', 16, 'text/plain');
    await store.closeStream('closed');
    base = await open({ sendTimeoutMs: SEND_TIMEOUT_MS, readMaxBytes: 32 * MIB, sseMaxDurationMs: 60_000 });
  }, 60_000);
  afterAll(async () => {
    for (const s of servers) await s.close(100);
    await store.close();
  });
  beforeEach(() => {
    lines.length = 0;
  });

  /** A connection that sends `request` and reads nothing; with the server's side of it. */
  const stalledClient = async (url: string, request: string): Promise<{ client: Socket; server: Socket }> => {
    const before = serverSockets.length;
    const client = connect(Number(new URL(url).port), '127.0.0.1');
    client.pause();
    client.on('error', () => {});
    client.write(request);
    expect(await eventually(() => serverSockets.length > before)).toBe(true);
    return { client, server: serverSockets.at(-1)! };
  };

  it('a catch-up read never read: the connection is cut, one log line', async () => {
    const { client, server } = await stalledClient(base, 'GET /big?offset=-1 HTTP/1.1\r\nHost: a\r\n\r\n');
    // Before, the server held the 32 MiB response for as long as the client stayed connected.
    expect(await eventually(() => server.destroyed, 15_000)).toBe(true);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      / 200 GET \/big SEND_TIMEOUT: the client did not take the response's data within 1000 ms \(sendTimeoutMs\): connection cut$/,
    );
    client.destroy();
  }, 30_000);

  it('a client that reads steadily gets the whole body, though it takes longer than the limit', async () => {
    const socket = connect(Number(new URL(base).port), '127.0.0.1');
    const chunks: Buffer[] = [];
    // A pause after every read: 32 MiB come in 64 KiB reads or smaller, so this takes over
    // 2.5 s, more than the limit; each 1 MiB piece takes a tenth of it.
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      socket.pause();
      setTimeout(() => socket.resume(), 5);
    });
    const closed = new Promise((r) => socket.on('close', r));
    socket.write('GET /big?offset=-1 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    await closed;
    const [response, ...more] = parseResponses(Buffer.concat(chunks), 'GET');
    expect(more).toEqual([]);
    expect(response!.status).toBe(200);
    const body = response!.body;
    expect(body.length).toBe(32 * MIB);
    for (let i = 0; i < 32; i++) expect(String.fromCharCode(body[i * MIB]!, body[(i + 1) * MIB - 1]!)).toBe(letter(i) + letter(i));
    expect(lines).toEqual([]);
  }, 30_000);

  it('SSE: the last batch of a closed stream, never read once the response has ended, is cut too', async () => {
    // One batch of 16 MiB, then the closing control event and the end of the response: what
    // waits for the client once the response has ended is under the limit too.
    const { client, server } = await stalledClient(base, 'GET /closed?offset=-1&live=sse HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(await eventually(() => server.destroyed, 15_000)).toBe(true);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ 200 GET \/closed SEND_TIMEOUT: .* within 1000 ms \(sendTimeoutMs\): connection cut$/);
    client.destroy();
  }, 30_000);

  it('SSE: one that stops reading mid-response is cut by the same limit, long before its end, with the same one line', async () => {
    // 1 MiB batches: the kernel's buffers take the first few, then a batch waits for the client.
    // The response's own time (60 s) is far off: before, it alone cut such a reader, at its end.
    const url = await open({ sendTimeoutMs: SEND_TIMEOUT_MS, readMaxBytes: MIB, sseMaxDurationMs: 60_000 });
    const { client, server } = await stalledClient(url, 'GET /big?offset=-1&live=sse HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(await eventually(() => server.destroyed, 15_000)).toBe(true);
    // The server still answers: any line about the cut response has been written by then.
    expect((await fetch(`${url}/big`, { method: 'HEAD' })).status).toBe(200);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/ 200 GET \/big SEND_TIMEOUT: .* within 1000 ms \(sendTimeoutMs\): connection cut$/);
    client.destroy();
  }, 30_000);
});
