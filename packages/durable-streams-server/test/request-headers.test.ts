import { MemoryStreamStore } from '@stowage/stores-memory';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';
import { rawExchange, type RawResponse } from './raw-http.js';

const LIMIT = 1024;

// Headers the client controls: Host (echoed into Location), repeated protocol headers,
// calendar dates that do not exist, and Expect: 100-continue.
describe('request headers the server checks', () => {
  const store = new MemoryStreamStore();
  const lines: string[] = [];
  let server: StreamsServer;
  let base = '';
  beforeAll(async () => {
    server = createStreamsServer({ store, maxBodyBytes: LIMIT, log: (l) => lines.push(l) });
    base = await server.listen(0);
  });
  afterAll(async () => {
    await server.close();
    await store.close();
  });
  afterEach(() => {
    lines.length = 0;
  });

  let n = 0;
  const fresh = (): string => `/h-${++n}`;
  /** One request on its own connection; its only (final) response. */
  async function send(head: string, body = ''): Promise<RawResponse> {
    const method = head.slice(0, head.indexOf(' '));
    const { responses } = await rawExchange(base, `${head}Connection: close\r\n\r\n${body}`, method);
    expect(responses).toHaveLength(1);
    return responses[0]!;
  }
  const create = (target: string, host: string | undefined) =>
    send(`PUT ${target} HTTP/1.1\r\n${host === undefined ? '' : `Host: ${host}\r\n`}Content-Type: text/plain\r\nContent-Length: 0\r\n`);
  const tailOf = async (path: string) => (await fetch(`${base}${path}`, { method: 'HEAD' })).headers.get('stream-next-offset');

  describe('Location of a 201', () => {
    it('is absolute on a usable Host (name or IPv6, with a port)', async () => {
      const a = fresh();
      expect((await create(a, 'streams.example:8080')).headers.get('location')).toEqual([`http://streams.example:8080${a}`]);
      const b = fresh();
      expect((await create(b, '[::1]:4437')).headers.get('location')).toEqual([`http://[::1]:4437${b}`]);
    });

    it('is the path alone when Host is not a host[:port]: never a path, query or nothing echoed', async () => {
      for (const host of ['evil.example/path?q=', '', 'a b', 'user@evil.example', 'evil.example#x']) {
        const path = fresh();
        const res = await create(path, host);
        expect(res.status, JSON.stringify(host)).toBe(201);
        expect(res.headers.get('location'), JSON.stringify(host)).toEqual([path]);
      }
    });

    it("takes an absolute-form target's authority over the Host header (RFC 9112 §3.2.2)", async () => {
      const path = fresh();
      const res = await create(`http://proxied.example:9000${path}`, 'other.example');
      expect(res.status).toBe(201);
      expect(res.headers.get('location')).toEqual([`http://proxied.example:9000${path}`]);
    });
  });

  describe('a protocol header given more than once is 400, nothing changed', () => {
    for (const [name, value] of [
      ['Producer-Id', 'w4'],
      ['Stream-Seq', '5'],
      ['Content-Type', 'text/plain'],
    ] as const) {
      it(`${name} on an append`, async () => {
        const path = fresh();
        await fetch(`${base}${path}`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
        const before = await tailOf(path);
        const producer = name === 'Producer-Id' ? 'Producer-Epoch: 0\r\nProducer-Seq: 0\r\n' : '';
        const type = name === 'Content-Type' ? '' : 'Content-Type: text/plain\r\n';
        const res = await send(
          `POST ${path} HTTP/1.1\r\nHost: a\r\n${type}${producer}${name}: ${value}\r\n${name}: ${value}x\r\nContent-Length: 1\r\n`,
          'x',
        );
        expect(res.status).toBe(400);
        expect(JSON.parse(res.body.toString()).error.message).toContain(`${name} must be given once, got it 2 times`);
        expect(await tailOf(path)).toBe(before);
      });
    }

    it('Stream-Forked-From on a create', async () => {
      const source = fresh();
      await fetch(`${base}${source}`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
      const fork = fresh();
      const res = await send(
        `PUT ${fork} HTTP/1.1\r\nHost: a\r\nStream-Forked-From: ${source}\r\nStream-Forked-From: ${source}\r\nContent-Length: 0\r\n`,
      );
      expect(res.status).toBe(400);
      expect((await fetch(`${base}${fork}`, { method: 'HEAD' })).status).toBe(404);
    });
  });

  it('Stream-Expires-At: a date that does not exist is 400 (not rolled over to another day)', async () => {
    for (const at of [
      '2099-02-30T00:00:00Z',
      '2099-02-29T00:00:00Z',
      '2099-04-31T12:00:00Z',
      '2099-01-01T24:00:00Z',
      '2099-01-01T00:60:00Z',
    ]) {
      const path = fresh();
      const res = await fetch(`${base}${path}`, { method: 'PUT', headers: { 'Content-Type': 'text/plain', 'Stream-Expires-At': at } });
      expect(res.status, at).toBe(400);
      expect(await res.text()).toContain('a real date and time');
      expect((await fetch(`${base}${path}`, { method: 'HEAD' })).status).toBe(404);
    }
    // Real ones still pass, the leap day and an offset included; HEAD gives back the same instant.
    for (const [at, iso] of [
      ['2096-02-29T23:59:59Z', '2096-02-29T23:59:59.000Z'],
      ['2099-03-01T01:30:00+02:00', '2099-02-28T23:30:00.000Z'],
    ] as const) {
      const path = fresh();
      const res = await fetch(`${base}${path}`, { method: 'PUT', headers: { 'Content-Type': 'text/plain', 'Stream-Expires-At': at } });
      expect(res.status, at).toBe(201);
      expect((await fetch(`${base}${path}`, { method: 'HEAD' })).headers.get('stream-expires-at')).toBe(iso);
    }
  });

  // Node answers these itself before any listener runs (no body, no log line) unless told not to.
  describe('requests Node would refuse silently', () => {
    it("an HTTP/1.1 request without Host: 400 in the protocol's terms, one line, nothing created", async () => {
      const path = fresh();
      const res = await create(path, undefined);
      expect(res.status).toBe(400);
      const message = 'an HTTP/1.1 request needs a Host header (RFC 9112 section 3.2)';
      expect(JSON.parse(res.body.toString())).toEqual({ error: { code: 'INVALID_ARGUMENT', message } });
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/ 400 PUT \/h-\d+ INVALID_ARGUMENT: .*an HTTP\/1\.1 request needs a Host header/);
      expect((await fetch(`${base}${path}`, { method: 'HEAD' })).status).toBe(404);
      // HTTP/1.0 has no Host requirement: served.
      expect((await send(`PUT ${path} HTTP/1.0\r\nContent-Type: text/plain\r\nContent-Length: 0\r\n`)).status).toBe(201);
    });

    it("an Expect other than 100-continue: 417 in the protocol's terms, one line, nothing appended", async () => {
      const path = fresh();
      await fetch(`${base}${path}`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
      const before = await tailOf(path);
      const res = await send(
        `POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nExpect: 200-ok\r\nContent-Length: 3\r\n`,
        'abc',
      );
      expect(res.status).toBe(417);
      const message = 'Expect: "200-ok" is not an expectation this server meets (only 100-continue)';
      expect(JSON.parse(res.body.toString())).toEqual({ error: { code: 'EXPECTATION_FAILED', message } });
      expect(lines).toHaveLength(1);
      // The log line keeps no value the client sent.
      expect(lines[0]).toMatch(/ 417 POST \/h-\d+ EXPECTATION_FAILED: Expect: "…" is not an expectation/);
      expect(lines[0]).not.toContain('200-ok');
      expect(await tailOf(path)).toBe(before);
    });
  });

  describe('Expect: 100-continue', () => {
    const head = (path: string, length: number) =>
      `POST ${path} HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nExpect: 100-continue\r\n` +
      `Content-Length: ${length}\r\nConnection: close\r\n\r\n`;

    it('a declared length over the limit is answered 413 without inviting the body (no 100)', async () => {
      const path = fresh();
      await fetch(`${base}${path}`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
      const before = await tailOf(path);
      // The head alone: a client that waits for 100 before it sends the body.
      const { responses } = await rawExchange(base, head(path, LIMIT + 1), 'POST');
      expect(responses.map((r) => r.status)).toEqual([413]);
      expect(await tailOf(path)).toBe(before);
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/ 413 POST .* PAYLOAD_TOO_LARGE/);
    });

    it('a body within the limit is invited (100) and appended', async () => {
      const path = fresh();
      await fetch(`${base}${path}`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } });
      const { responses } = await rawExchange(base, `${head(path, LIMIT)}${'x'.repeat(LIMIT)}`, 'POST');
      expect(responses.map((r) => r.status)).toEqual([100, 204]);
      expect((await (await fetch(`${base}${path}?offset=-1`)).text()).length).toBe(LIMIT);
    });
  });
});
