import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createStreamsServer, type StreamsServer } from '../src/index.js';
import type { OpenedTestStore } from './helpers.js';
import { openMemoryStore, openSqliteFileStore } from './stores.js';

// Odd forks (`PUT` with `Stream-Forked-From`), against what the protocol and its official
// suite say: a missing source is 404, a source deleted but kept for its forks 409, an offset
// past the tail or malformed 400, another content type 409, an existing target 200 with the
// same configuration (fork source and offset included) and 409 with another. A header that
// could never name one of our streams (reserved, outside the base path, another host, a query,
// a `..` segment) is 400. A refused fork changes nothing: no target, the source as it was, and
// no reference left on the source (deleting it then removes it: 404, not 410).

const BASE = '/v1/stream/';
const T0 = '0000000000000000_0000000000000000';
const T1 = '0000000000000000_0000000000000001';
const T9 = '0000000000000000_0000000000000009';

interface Case {
  name: string;
  /** Builds the request from the case's names: `src` (text/plain, "hello" then "world"), `json` (one message [1,2,3]). */
  request: (n: Names, host: string) => { target?: string; headers: Record<string, string>; body?: string };
  /** Runs before the request (forks that must exist, a deleted source). */
  setup?: (n: Names) => Promise<void>;
  status: number;
  /** A part of the error message, or the fork's data for a 201. */
  expect?: string;
  /** The case made forks of `src` on purpose: deleting `src` keeps it for them. */
  keepsSource?: boolean;
}

interface Names {
  src: string;
  json: string;
  target: string;
  put(name: string, headers: Record<string, string>, body?: string): Promise<Response>;
}

const from = (name: string) => ({ 'Stream-Forked-From': `${BASE}${name}` });

const CASES: Case[] = [
  { name: 'a source that does not exist', request: (n) => ({ headers: from(`${n.src}-nope`) }), status: 404, expect: 'does not exist' },
  {
    name: 'a source that does not exist, with a sub-offset',
    request: (n) => ({ headers: { ...from(`${n.src}-nope`), 'Stream-Fork-Offset': T0, 'Stream-Fork-Sub-Offset': '1' } }),
    status: 404,
    expect: 'fork source',
  },
  { name: 'itself, not existing', request: (n) => ({ headers: from(n.target) }), status: 404, expect: 'does not exist' },
  { name: 'itself, existing', request: (n) => ({ target: n.src, headers: from(n.src) }), status: 409, expect: 'another configuration' },
  {
    name: 'a deleted source (no forks)',
    setup: async (n) => void (await fetch(`${base}${BASE}${n.json}`, { method: 'DELETE' })),
    request: (n) => ({ headers: from(n.json) }),
    status: 404,
    expect: 'does not exist',
  },
  {
    name: 'a deleted source kept for its forks',
    setup: async (n) => {
      await n.put(`${n.src}-kept`, from(n.src));
      await fetch(`${base}${BASE}${n.src}`, { method: 'DELETE' });
    },
    request: (n) => ({ headers: from(n.src) }),
    status: 409,
    expect: 'was deleted',
    keepsSource: true,
  },
  {
    name: 'an offset past the tail',
    request: (n) => ({ headers: { ...from(n.src), 'Stream-Fork-Offset': T9 } }),
    status: 400,
    expect: "past the source's tail",
  },
  {
    name: 'an offset past the tail, with a sub-offset',
    request: (n) => ({ headers: { ...from(n.src), 'Stream-Fork-Offset': T9, 'Stream-Fork-Sub-Offset': '1' } }),
    status: 400,
    expect: "past the source's tail",
  },
  {
    name: 'a malformed offset',
    request: (n) => ({ headers: { ...from(n.src), 'Stream-Fork-Offset': 'abc' } }),
    status: 400,
    expect: 'Stream-Fork-Offset must be an offset',
  },
  {
    name: 'a malformed offset, with a sub-offset',
    request: (n) => ({ headers: { ...from(n.src), 'Stream-Fork-Offset': 'abc', 'Stream-Fork-Sub-Offset': '1' } }),
    status: 400,
    expect: 'Stream-Fork-Offset must be an offset',
  },
  {
    name: 'the offset now',
    request: (n) => ({ headers: { ...from(n.src), 'Stream-Fork-Offset': 'now' } }),
    status: 400,
    expect: 'Stream-Fork-Offset must be an offset',
  },
  {
    name: 'a sub-offset past the message',
    request: (n) => ({ headers: { ...from(n.src), 'Stream-Fork-Offset': T1, 'Stream-Fork-Sub-Offset': '6' } }),
    status: 400,
    expect: 'past the 5 bytes',
  },
  {
    name: 'in the middle of a message (sub-offset)',
    request: (n) => ({ headers: { ...from(n.src), 'Stream-Fork-Offset': T1, 'Stream-Fork-Sub-Offset': '2' } }),
    status: 201,
    expect: 'hellowo',
    keepsSource: true,
  },
  {
    name: 'another content type than the source',
    request: (n) => ({ headers: { ...from(n.src), 'Content-Type': 'application/json' } }),
    status: 409,
    expect: 'differs',
  },
  {
    name: 'a closed source (the fork is open)',
    setup: async (n) => void (await fetch(`${base}${BASE}${n.src}`, { method: 'POST', headers: { 'Stream-Closed': 'true' } })),
    request: (n) => ({ headers: from(n.src) }),
    status: 201,
    expect: 'helloworld',
    keepsSource: true,
  },
  {
    name: 'a fork of a fork',
    setup: async (n) => void (await n.put(`${n.src}-f`, { ...from(n.src), 'Stream-Fork-Offset': T1 })),
    request: (n) => ({ headers: from(`${n.src}-f`) }),
    status: 201,
    expect: 'hello',
    keepsSource: true,
  },
  {
    name: 'an existing fork, same configuration',
    setup: async (n) => void (await n.put(n.target, from(n.src))),
    request: (n) => ({ headers: { ...from(n.src), 'Content-Type': 'text/plain' } }),
    status: 200,
    keepsSource: true,
  },
  {
    name: 'an existing fork, another offset',
    setup: async (n) => void (await n.put(n.target, from(n.src))),
    request: (n) => ({ headers: { ...from(n.src), 'Stream-Fork-Offset': T1 } }),
    status: 409,
    expect: 'another configuration',
    keepsSource: true,
  },
  {
    name: 'an existing fork, without fork headers',
    setup: async (n) => void (await n.put(n.target, from(n.src))),
    request: () => ({ headers: { 'Content-Type': 'text/plain' } }),
    status: 409,
    expect: 'another configuration',
    keepsSource: true,
  },
  {
    name: 'an existing plain stream of the same type',
    setup: async (n) => void (await n.put(n.target, { 'Content-Type': 'text/plain' })),
    request: (n) => ({ headers: from(n.src) }),
    status: 409,
    expect: 'another configuration',
  },
  { name: 'a reserved source (__ds/)', request: () => ({ headers: from('__ds/health/ready') }), status: 400, expect: 'reserves' },
  {
    name: 'a source outside the base path',
    request: (n) => ({ headers: { 'Stream-Forked-From': `/elsewhere/${n.src}` } }),
    status: 400,
    expect: `under ${BASE}`,
  },
  {
    name: 'a URL of another server',
    request: (n) => ({ headers: { 'Stream-Forked-From': `http://other.example${BASE}${n.src}` } }),
    status: 400,
    expect: 'another server',
  },
  {
    name: 'a file: URL',
    request: (n) => ({ headers: { 'Stream-Forked-From': `file://${BASE}${n.src}` } }),
    status: 400,
    expect: 'got a file: URL',
  },
  {
    name: 'a javascript: URL',
    request: () => ({ headers: { 'Stream-Forked-From': 'javascript:alert(1)' } }),
    status: 400,
    expect: 'http(s) URL',
  },
  {
    name: 'a URL of this server with credentials',
    request: (n, host) => ({ headers: { 'Stream-Forked-From': `${host.replace('://', '://user:pw@')}${BASE}${n.src}` } }),
    status: 400,
    expect: 'must not carry credentials',
  },
  {
    name: 'a URL of this server',
    request: (n, host) => ({ headers: { 'Stream-Forked-From': `${host}${BASE}${n.src}` } }),
    status: 201,
    expect: 'helloworld',
    keepsSource: true,
  },
  { name: 'a %2e%2e segment', request: (n) => ({ headers: from(`x/%2e%2e/${n.src}`) }), status: 400, expect: '. or ..' },
  { name: 'an empty segment', request: (n) => ({ headers: from(`/${n.src}`) }), status: 400, expect: 'empty path segment' },
  { name: 'a query', request: (n) => ({ headers: from(`${n.src}?offset=-1`) }), status: 400, expect: 'without a query' },
  { name: 'bad percent-encoding', request: (n) => ({ headers: from(`${n.src}%zz`) }), status: 400, expect: 'percent-encoding' },
  {
    name: 'a percent-encoded name',
    request: (n) => ({ headers: from(encodeURIComponent(n.src)) }),
    status: 201,
    expect: 'helloworld',
    keepsSource: true,
  },
  {
    name: 'a name over 1024 UTF-8 bytes',
    request: () => ({ headers: from(encodeURIComponent('é'.repeat(600))) }),
    status: 400,
    expect: 'the stream name of Stream-Forked-From must be 1 to 1024 UTF-8 bytes, got 1200 UTF-8 bytes',
  },
];

let base = '';

for (const [label, open] of [
  ['MemoryStreamStore', openMemoryStore],
  ['SqliteStreamStore (a WAL file)', openSqliteFileStore],
] as const) {
  describe(`forks on ${label}`, () => {
    let opened: OpenedTestStore;
    let server: StreamsServer;
    beforeAll(async () => {
      opened = await open();
      server = createStreamsServer({ store: opened.store, basePath: BASE, log: false });
      base = await server.listen(0);
    });
    afterAll(async () => {
      await server.close();
      await opened.close();
    });

    const put = (name: string, headers: Record<string, string>, body?: string) =>
      fetch(`${base}${BASE}${encodeURIComponent(name).replaceAll('%2F', '/')}`, {
        method: 'PUT',
        headers,
        ...(body === undefined ? {} : { body }),
      });
    const tail = async (name: string) => {
      const res = await fetch(`${base}${BASE}${name}`, { method: 'HEAD' });
      return `${res.status} ${res.headers.get('stream-next-offset')}`;
    };

    CASES.forEach((c, i) => {
      it(`${c.name}: ${c.status}`, async () => {
        const p = `case${i}-${label.slice(0, 3)}`;
        const n: Names = { src: `${p}-src`, json: `${p}-json`, target: `${p}-fork`, put };
        await put(n.src, { 'Content-Type': 'text/plain' }, 'hello');
        await fetch(`${base}${BASE}${n.src}`, { method: 'POST', headers: { 'Content-Type': 'text/plain' }, body: 'world' });
        await put(n.json, { 'Content-Type': 'application/json' }, '[1,2,3]');
        await c.setup?.(n);
        const request = c.request(n, base);
        const target = request.target ?? n.target;
        const before = { target: await tail(target), src: await tail(n.src) };
        const res = await put(target, request.headers, request.body);
        const text = await res.text();
        expect(res.status, text).toBe(c.status);
        if (c.status >= 400) {
          const { error } = JSON.parse(text);
          if (c.expect !== undefined) expect(error.message).toContain(c.expect);
          expect(error.message).not.toMatch(/@stowage|Store\b|opts\.|fromOffset/);
          // Nothing changed: the target and the source as they were.
          expect({ target: await tail(target), src: await tail(n.src) }).toEqual(before);
        } else if (c.expect !== undefined) {
          expect(res.headers.get('stream-closed')).toBeNull();
          expect(await (await fetch(`${base}${BASE}${target}?offset=-1`)).text()).toBe(c.expect);
        }
        if (!c.keepsSource) {
          // No reference left on the source: deleting it removes it (404), not keeps it (410).
          expect((await fetch(`${base}${BASE}${n.src}`, { method: 'DELETE' })).status).toBe(204);
          expect((await fetch(`${base}${BASE}${n.src}`, { method: 'HEAD' })).status).toBe(404);
        }
      });
    });
  });
}
