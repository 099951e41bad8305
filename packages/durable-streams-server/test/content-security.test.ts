import { createServer, type Server } from 'node:http';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsHandler, createStreamsServer, type StreamsRequestHandler, type StreamsServer } from '../src/index.js';

const CSP = "default-src 'none'; sandbox";
const SCRIPT = '<script>alert(document.cookie)</script>';

/** The headers that keep a stream's body from running as a page of this origin. */
function expectInert(res: Response): void {
  expect(res.headers.get('content-security-policy')).toBe(CSP);
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
}

// A stream's body is whatever its writer sent, under the Content-Type the writer chose.
describe('stream bodies never run as pages of the server origin (stored XSS)', () => {
  const store = new MemoryStreamStore();
  let server: StreamsServer;
  let base = '';
  beforeAll(async () => {
    server = createStreamsServer({ store, longPollTimeoutMs: 200, sseMaxDurationMs: 300, log: false });
    base = await server.listen(0);
  });
  afterAll(async () => {
    await server.close();
    await store.close();
  });

  for (const type of ['text/html', 'image/svg+xml']) {
    it(`${type}: catch-up, long-poll, SSE, offset=now, HEAD, 304 and errors all carry the sandbox`, async () => {
      const path = `${base}/xss-${type.replace('/', '-')}`;
      const body = type === 'text/html' ? SCRIPT : `<svg xmlns="http://www.w3.org/2000/svg">${SCRIPT}</svg>`;
      const put = await fetch(path, { method: 'PUT', headers: { 'Content-Type': type }, body });
      expect(put.status).toBe(201);
      expectInert(put);

      const read = await fetch(`${path}?offset=-1`);
      expect(read.status).toBe(200);
      expect(read.headers.get('content-type')).toBe(type);
      expect(await read.text()).toBe(body);
      expectInert(read);

      const revalidated = await fetch(`${path}?offset=-1`, { headers: { 'If-None-Match': read.headers.get('etag')! } });
      expect(revalidated.status).toBe(304);
      expectInert(revalidated);

      // A long-poll from the start answers with the data at once; one at the tail waits for the next append.
      const polled = await fetch(`${path}?offset=-1&live=long-poll`);
      expect(await polled.text()).toBe(body);
      expectInert(polled);
      const tail = read.headers.get('stream-next-offset')!;
      const waiting = fetch(`${path}?offset=${tail}&live=long-poll`);
      await new Promise((r) => setTimeout(r, 50));
      await fetch(path, { method: 'POST', headers: { 'Content-Type': type }, body: SCRIPT });
      const woken = await waiting;
      expect(woken.status).toBe(200);
      expect(await woken.text()).toBe(SCRIPT);
      expectInert(woken);

      const events = await fetch(`${path}?offset=-1&live=sse`);
      expect(events.headers.get('content-type')).toBe('text/event-stream');
      expectInert(events);
      // The sandbox changes nothing for an SSE client: the events arrive whole.
      const text = await events.text();
      expect(text).toContain('event: data\n');
      const payload = /event: data\ndata:(.*)\n/.exec(text)![1]!;
      // text/* goes as text, anything else as base64 (Stream-SSE-Data-Encoding).
      expect(type === 'text/html' ? payload : Buffer.from(payload, 'base64').toString('utf8')).toBe(`${body}${SCRIPT}`);
      expect(text).toMatch(/event: control\ndata:\{"streamNextOffset":"[^"]+"/);

      expectInert(await fetch(`${path}?offset=now`));
      expectInert(await fetch(path, { method: 'HEAD' }));
      const missing = await fetch(`${path}-missing?offset=-1`);
      expect(missing.status).toBe(404);
      expectInert(missing);
    });
  }

  it('the page at / carries them too', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expectInert(page);
  });
});

describe('mounted as middleware', () => {
  const store = new MemoryStreamStore();
  let handler: StreamsRequestHandler;
  let server: Server;
  let base = '';
  beforeAll(async () => {
    handler = createStreamsHandler({ store, basePath: '/streams/', log: false });
    server = createServer((req, res) => handler(req, res, () => res.writeHead(200, { 'Content-Type': 'text/html' }).end('<p>the app</p>')));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  });
  afterAll(async () => {
    handler.close();
    await new Promise((r) => server.close(r));
    await store.close();
  });

  it("leaves the host app's own pages alone: no sandbox, no CORS, no headers of ours", async () => {
    for (const path of ['/', '/page']) {
      const page = await fetch(`${base}${path}`);
      expect(await page.text()).toBe('<p>the app</p>');
      for (const name of [
        'content-security-policy',
        'x-content-type-options',
        'cross-origin-resource-policy',
        'access-control-allow-origin',
      ]) {
        expect(page.headers.get(name), `${path} ${name}`).toBeNull();
      }
    }
  });

  it('sandboxes what it serves itself, errors included', async () => {
    await fetch(`${base}/streams/x`, { method: 'PUT', headers: { 'Content-Type': 'text/html' }, body: SCRIPT });
    expectInert(await fetch(`${base}/streams/x?offset=-1`));
    expectInert(await fetch(`${base}/streams/`));
    const bad = await fetch(`${base}/streams/%zz`);
    expect(bad.status).toBe(400);
    expectInert(bad);
  });
});
