import { createServer } from 'node:http';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { RedisStreamStore } from '@stowage/stores-redis';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsHandler, createStreamsServer, type StreamsServer } from '../src/index.js';
import { rawExchange, type RawResponse } from './raw-http.js';

/** One raw request (Connection: close) and its final response. */
async function send(base: string, method: string, target: string, headers: string[] = [], body = ''): Promise<RawResponse> {
  const head = [`${method} ${target} HTTP/1.1`, 'Host: odd.test', 'Connection: close', ...headers];
  if (body.length > 0) head.push(`Content-Length: ${Buffer.byteLength(body)}`);
  const { responses } = await rawExchange(base, `${head.join('\r\n')}\r\n\r\n${body}`, method);
  return responses.at(-1)!;
}

const header = (r: RawResponse, name: string): string | undefined => r.headers.get(name)?.join(', ');
const json = (r: RawResponse): { error: { code: string; message: string } } => JSON.parse(r.body.toString('utf8'));

describe('the root path and odd paths (basePath /)', () => {
  const store = new MemoryStreamStore();
  const lines: string[] = [];
  let server: StreamsServer;
  let base = '';
  beforeAll(async () => {
    server = createStreamsServer({ store, log: (l) => lines.push(l) });
    base = await server.listen(0);
  });
  afterAll(async () => {
    await server.close();
    await store.close();
  });

  it('GET / is a short text/plain page: the server, the protocol, a curl line, the store kind', async () => {
    const r = await send(base, 'GET', '/');
    expect(r.status).toBe(200);
    expect(header(r, 'content-type')).toBe('text/plain; charset=utf-8');
    const text = r.body.toString('utf8');
    expect(text).toContain('Durable Streams');
    expect(text).toContain("curl -X PUT -H 'Content-Type: text/plain' http://odd.test/hello");
    expect(text).toContain('Store: MemoryStreamStore');
    expect(text.split('\n').length).toBeLessThan(12);
    const head = await send(base, 'HEAD', '/');
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    expect(header(head, 'content-length')).toBe(String(r.body.length));
    // The absolute-form of the root is the root.
    expect((await send(base, 'GET', 'http://odd.test')).status).toBe(200);
  });

  it('answers other methods on / with 405 and Allow, OPTIONS with 204', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'PROPFIND']) {
      const r = await send(base, method, '/', ['Content-Type: text/plain'], 'x');
      expect(r.status, method).toBe(405);
      expect(header(r, 'allow')).toBe('GET, HEAD, OPTIONS');
      expect(json(r).error.code).toBe('METHOD_NOT_ALLOWED');
      expect(json(r).error.message).toContain('needs a stream name');
    }
    const options = await send(base, 'OPTIONS', '/');
    expect(options.status).toBe(204);
    expect(header(options, 'allow')).toBe('GET, HEAD, OPTIONS');
    expect(lines.filter((l) => / 405 \S+ \/ METHOD_NOT_ALLOWED: /.test(l))).toHaveLength(5);
  });

  it('uses the Host header in the curl line only when it is a host name', async () => {
    const r = await send(base, 'GET', '/', []);
    expect(r.body.toString('utf8')).toContain('http://odd.test/hello');
    const odd = await rawExchange(base, 'GET / HTTP/1.1\r\nHost: <script>x</script>\r\nConnection: close\r\n\r\n', 'GET');
    const text = odd.responses[0]!.body.toString('utf8');
    expect(text).not.toContain('<script>');
    expect(text).toMatch(/http:\/\/127\.0\.0\.1:\d+\/hello/);
  });

  it('gives each odd path a well-formed 2xx/4xx of its own', async () => {
    const cases: Array<[string, string, number]> = [
      // Empty segments: proxies that merge slashes or drop a trailing one would reach another stream.
      ['GET', '//', 400],
      ['PUT', '//', 400],
      ['PUT', '/a//b', 400],
      ['PUT', '/t/', 400],
      ['PUT', '/t', 201],
      ['GET', '/t/', 400],
      ['PUT', '/%2F/x', 400],
      ['GET', '/a%2Fb', 404],
      // Dot segments: every URL client resolves them away, so such a name would be reached as another.
      ['GET', '/%2e%2e/x', 400],
      ['PUT', '/%2e%2e/x', 400],
      ['PUT', '/../new', 400],
      ['PUT', '/n/./z', 400],
      ['POST', '/a/../b', 400],
      ['GET', '/a%2F..%2Fb', 400],
      ['PUT', '/a..b/.x/..y', 201], // dots inside a segment are plain characters
      ['GET', '/x%00y', 400],
      ['PUT', '/x%00y', 400],
      ['GET', '/x%zzy', 400],
      ['GET', '/%C3%28', 400],
      ['GET', `/${'n'.repeat(1500)}`, 400],
      ['GET', `/${'n'.repeat(16 * 1024)}`, 431],
      ['GET', '/t?offset=', 400],
      ['GET', '/missing?offset=-1&live=sse', 404],
      ['GET', 'http://x/t', 200],
      ['GET', 'file:///t', 400],
      ['GET', 'mailto:t', 400],
      // A fragment is never sent by a client; a raw # names no stream (%23 does).
      ['GET', '/t#frag', 400],
      ['PUT', '/u#frag', 400],
      ['GET', '/t?offset=-1#x', 400],
      ['GET', 'http://x/t#frag', 400],
      ['PUT', '/v%23w', 201],
      ['GET', '/v%23w', 200],
      ['GET', '/v', 404],
      ['GET', '*', 400],
      ['OPTIONS', '*', 204],
      ['PROPFIND', '/t', 405],
      ['BREW', '/t', 400], // Node's parser refuses unknown methods before the handler sees them
    ];
    const got: Array<[string, string, number]> = [];
    for (const [method, target] of cases) got.push([method, target.slice(0, 40), (await send(base, method, target)).status]);
    expect(got).toEqual(cases.map(([m, t, s]) => [m, t.slice(0, 40), s]));
    const propfind = await send(base, 'PROPFIND', '/t');
    expect(header(propfind, 'allow')).toBe('GET, HEAD, PUT, POST, DELETE, OPTIONS');
  });
});

describe('bodies the server cannot store as they are meant', () => {
  it('a transfer coding other than chunked is 501, a content coding 415, two Host headers 400; nothing is appended', async () => {
    const store = new MemoryStreamStore();
    const server = createStreamsServer({ store, log: false });
    const base = await server.listen(0);
    try {
      expect((await send(base, 'PUT', '/c', ['Content-Type: text/plain'])).status).toBe(201);
      /** A chunked POST (no Content-Length) with `coding` as its Transfer-Encoding. */
      const chunked = async (coding: string, data: string) => {
        const head = [
          'POST /c HTTP/1.1',
          'Host: odd.test',
          'Connection: close',
          'Content-Type: text/plain',
          `Transfer-Encoding: ${coding}`,
        ];
        const body = `${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n0\r\n\r\n`;
        return (await rawExchange(base, `${head.join('\r\n')}\r\n\r\n${body}`, 'POST')).responses.at(-1)!;
      };
      const te = await chunked('gzip, chunked', 'zz');
      expect(te.status).toBe(501);
      expect(json(te).error.message).toContain('only chunked');
      for (const coding of ['gzip', 'br', 'identity, gzip']) {
        const ce = await send(base, 'POST', '/c', ['Content-Type: text/plain', `Content-Encoding: ${coding}`], 'zz');
        expect(ce.status, coding).toBe(415);
        expect(json(ce).error.code).toBe('UNSUPPORTED_MEDIA_TYPE');
      }
      expect((await send(base, 'POST', '/c', ['Content-Type: text/plain', 'Host: other.test'], 'zz')).status).toBe(400);
      // What is allowed: chunked alone, identity, a GET naming a coding it has no body for.
      expect((await chunked('chunked, chunked', 'zz')).status).toBe(400);
      expect((await chunked('chunked', 'a')).status).toBe(204);
      expect((await chunked(', chunked', 'c')).status).toBe(204); // empty list elements are ignored
      expect((await send(base, 'POST', '/c', ['Content-Type: text/plain', 'Content-Encoding: identity'], 'b')).status).toBe(204);
      expect((await send(base, 'POST', '/c', ['Content-Type: text/plain', 'Content-Encoding: identity, '], 'd')).status).toBe(204);
      // A big body refused for its coding is read and dropped: the client finishes sending and reads the answer.
      const big = await send(base, 'POST', '/c', ['Content-Type: text/plain', 'Content-Encoding: gzip'], 'z'.repeat(4 * 1024 * 1024));
      expect(big.status).toBe(415);
      expect((await send(base, 'GET', '/c?offset=-1', ['Content-Encoding: gzip'])).body.toString()).toBe('acbd');
    } finally {
      await server.close();
      await store.close();
    }
  });
});

describe('the root path under a basePath', () => {
  it('serves the page at basePath (with or without its slash) and at / when nothing else owns /', async () => {
    const store = new MemoryStreamStore();
    const server = createStreamsServer({ store, basePath: '/ds', log: false });
    const base = await server.listen(0);
    try {
      for (const target of ['/ds', '/ds/', '/']) {
        const r = await send(base, 'GET', target);
        expect(r.status, target).toBe(200);
        expect(r.body.toString('utf8')).toContain('Streams live under /ds/<name>');
      }
      expect((await send(base, 'PUT', '/ds/', [], 'x')).status).toBe(405);
      expect((await send(base, 'GET', '/elsewhere')).status).toBe(404);
    } finally {
      await server.close();
      await store.close();
    }
  });

  it('as middleware, leaves / to the host app and answers basePath itself', async () => {
    const store = new MemoryStreamStore();
    const handler = createStreamsHandler({ store, basePath: '/ds/', log: false });
    const server = createServer((req, res) => handler(req, res, () => res.writeHead(418).end('host app')));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      expect((await send(base, 'GET', '/')).status).toBe(418);
      expect((await send(base, 'GET', '/ds')).status).toBe(200);
      expect((await send(base, 'GET', '/ds/')).status).toBe(200);
      // The host app's paths reach it as they came, whatever the handler would refuse in its own.
      for (const target of ['/#top', '/app/page#x', '/app/%zz', '/ds#x', '/dsx#y']) {
        expect((await send(base, 'GET', target)).status, target).toBe(target === '/ds#x' ? 400 : 418);
      }
      expect((await send(base, 'GET', '/ds/%zz')).status).toBe(400);
      const spaced = createStreamsHandler({ store, basePath: '/a b/', log: false });
      const other = createServer((req, res) => spaced(req, res, () => res.writeHead(418).end('host app')));
      await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
      try {
        const at = `http://127.0.0.1:${(other.address() as { port: number }).port}`;
        expect((await send(at, 'GET', '/a%20b/%zz')).status).toBe(400);
        expect((await send(at, 'GET', '/elsewhere/%zz')).status).toBe(418);
      } finally {
        spaced.close();
        await new Promise((r) => other.close(r));
      }
      expect((await send(base, 'PUT', '/ds/t#x')).status).toBe(400);
    } finally {
      handler.close();
      await new Promise((r) => server.close(r));
      await store.close();
    }
  });

  it('names the store by its kind only: no URL, host or password', async () => {
    const client = new Redis('redis://:s3cret@127.0.0.1:1/0', { lazyConnect: true });
    const store = new RedisStreamStore({ client });
    const server = createStreamsServer({ store, log: false });
    const base = await server.listen(0);
    try {
      const text = (await send(base, 'GET', '/')).body.toString('utf8');
      expect(text).toContain('Store: RedisStreamStore');
      expect(text).not.toMatch(/s3cret|redis:\/\/|127\.0\.0\.1:1\b/);
    } finally {
      await server.close();
      await store.close();
      client.disconnect();
    }
  });
});
