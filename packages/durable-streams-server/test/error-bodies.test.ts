import { afterAll, beforeAll, expect, it } from 'vitest';
import type { OpenedTestStore } from './helpers.js';
import { describeEveryStore } from './stores.js';
import { type SubscriptionServer, startSubscriptionServer } from './subscription-server.js';

// Every error answer names the problem in the protocol's terms (streams, offsets, headers,
// producers), never the package or class that found it: those are in the log line only.

/** What no body may contain: our package names, store classes, internal labels. */
const INTERNAL = /@stowage|stores-|StreamStore|SessionStore|StreamsServer|Sqlite|Postgres|Redis|Memory|Engine|options\.|opts\./;

const text = (body?: string, headers: Record<string, string> = {}) => ({
  headers: { 'Content-Type': 'text/plain', ...headers },
  ...(body === undefined ? {} : { body }),
});
const json = { 'Content-Type': 'application/json' };

/** Each error path: a name, the request that hits it (after `setup`), and the status expected. */
interface Case {
  name: string;
  status: number;
  request: (base: string) => Promise<Response>;
}

const put = (base: string, name: string, init: RequestInit = text()) => fetch(`${base}/${name}`, { method: 'PUT', ...init });
const post = (base: string, name: string, init: RequestInit) => fetch(`${base}/${name}`, { method: 'POST', ...init });
/** A stream's path, as `Stream-Forked-From` names it. */
const pathOf = (base: string, name: string) => `${new URL(base).pathname}/${name}`;
const producer = (epoch: number, seq: number) => ({ 'Producer-Id': 'p', 'Producer-Epoch': String(epoch), 'Producer-Seq': String(seq) });

const CASES: Case[] = [
  { name: 'read of a missing stream', status: 404, request: (b) => fetch(`${b}/missing?offset=-1`) },
  { name: 'append to a missing stream', status: 404, request: (b) => post(b, 'missing', text('x')) },
  { name: 'delete of a missing stream', status: 404, request: (b) => fetch(`${b}/missing`, { method: 'DELETE' }) },
  { name: 'append to a closed stream', status: 409, request: (b) => post(b, 'closed', text('x')) },
  { name: 'create with another configuration', status: 409, request: (b) => put(b, 'open', { headers: json }) },
  { name: 'append with another content type', status: 409, request: (b) => post(b, 'open', { headers: json, body: '1' }) },
  { name: 'a malformed offset', status: 400, request: (b) => fetch(`${b}/open?offset=zz`) },
  { name: 'an offset past the tail', status: 400, request: (b) => fetch(`${b}/open?offset=9999999999999999_9999999999999999`) },
  { name: 'an empty append', status: 400, request: (b) => post(b, 'open', text('')) },
  {
    name: 'create with a Content-Type of no media type',
    status: 400,
    request: (b) => put(b, 'odd', { headers: { 'Content-Type': ';;;' } }),
  },
  {
    name: 'create with a media range for a Content-Type',
    status: 400,
    request: (b) => put(b, 'odd', { headers: { 'Content-Type': 'text/*' } }),
  },
  {
    name: 'append with a Content-Type of no media type',
    status: 400,
    request: (b) => post(b, 'open', text('x', { 'Content-Type': 'text' })),
  },
  { name: 'invalid JSON', status: 400, request: (b) => post(b, 'json', { headers: json, body: '{nope' }) },
  { name: 'an empty JSON array', status: 400, request: (b) => post(b, 'json', { headers: json, body: '[]' }) },
  {
    name: 'Stream-TTL with Stream-Expires-At',
    status: 400,
    request: (b) => put(b, 'ttl', text(undefined, { 'Stream-TTL': '60', 'Stream-Expires-At': '2099-01-01T00:00:00Z' })),
  },
  { name: 'a Stream-Seq that goes back', status: 409, request: (b) => post(b, 'seq', text('x', { 'Stream-Seq': 'a' })) },
  {
    name: 'producer headers missing one',
    status: 400,
    request: (b) => post(b, 'open', text('x', { 'Producer-Id': 'p', 'Producer-Epoch': '0' })),
  },
  { name: 'a stale producer epoch', status: 403, request: (b) => post(b, 'producer', text('x', producer(0, 0))) },
  { name: 'a producer sequence gap', status: 409, request: (b) => post(b, 'producer', text('x', producer(1, 5))) },
  { name: 'a new producer epoch not at seq 0', status: 400, request: (b) => post(b, 'producer', text('x', producer(2, 3))) },
  { name: 'a body over the limit', status: 413, request: (b) => post(b, 'open', text('x'.repeat(2048))) },
  { name: 'an unknown live mode', status: 400, request: (b) => fetch(`${b}/open?offset=-1&live=forever`) },
  { name: 'live without an offset', status: 400, request: (b) => fetch(`${b}/open?live=long-poll`) },
  {
    name: 'a fork of a missing stream',
    status: 404,
    request: (b) => put(b, 'fork2', text(undefined, { 'Stream-Forked-From': pathOf(b, 'missing') })),
  },
  {
    name: 'a fork offset past the source tail',
    status: 400,
    request: (b) =>
      put(
        b,
        'fork3',
        text(undefined, { 'Stream-Forked-From': pathOf(b, 'open'), 'Stream-Fork-Offset': '0000000000000000_0000000000000009' }),
      ),
  },
  {
    name: 'a malformed Stream-Fork-Offset',
    status: 400,
    request: (b) => put(b, 'fork4', text(undefined, { 'Stream-Forked-From': pathOf(b, 'open'), 'Stream-Fork-Offset': 'zz' })),
  },
  { name: 'read of a deleted stream kept for its forks', status: 410, request: (b) => fetch(`${b}/source?offset=-1`) },
  { name: 'create over a deleted stream kept for its forks', status: 409, request: (b) => put(b, 'source') },
  { name: 'a method the protocol does not have', status: 405, request: (b) => fetch(`${b}/open`, { method: 'PATCH' }) },
  { name: 'a subscription that is not JSON', status: 400, request: (b) => put(b, '__ds/subscriptions/x', { headers: json, body: '{' }) },
  { name: 'a missing subscription', status: 404, request: (b) => fetch(`${b}/__ds/subscriptions/none`) },
];

async function setUp(base: string): Promise<void> {
  let step = 0;
  const ok = async (res: Promise<Response>) => {
    const r = await res;
    step++;
    expect({ step, status: r.status, body: r.status < 300 ? '' : await r.text() }).toEqual({
      step,
      status: r.status < 300 ? r.status : 200,
      body: '',
    });
  };
  await ok(put(base, 'closed', text('a', { 'Stream-Closed': 'true' })));
  await ok(put(base, 'open', text('a')));
  await ok(put(base, 'json', { headers: json, body: '[]' }));
  await ok(put(base, 'binary', { headers: { 'Content-Type': 'application/octet-stream' } }));
  await ok(put(base, 'seq'));
  await ok(post(base, 'seq', text('x', { 'Stream-Seq': 'b' })));
  await ok(put(base, 'producer'));
  await ok(post(base, 'producer', text('x', producer(1, 0))));
  await ok(put(base, 'source', text('s')));
  await ok(put(base, 'fork', text(undefined, { 'Stream-Forked-From': pathOf(base, 'source') })));
  await ok(fetch(`${base}/source`, { method: 'DELETE' }));
}

await describeEveryStore((open) => {
  let opened: OpenedTestStore;
  let served: SubscriptionServer;
  let base = '';
  beforeAll(async () => {
    opened = await open();
    served = await startSubscriptionServer(opened, { maxBodyBytes: 1024 });
    base = served.url('').slice(0, -1);
  }, 60_000);
  afterAll(async () => {
    await served.close();
    await opened.close();
  });

  it('every error path answers its status and a body without package or class names (the log has them)', async () => {
    await setUp(base);
    for (const c of CASES) {
      const res = await c.request(base);
      expect.soft({ case: c.name, status: res.status }).toEqual({ case: c.name, status: c.status });
      const parsed = JSON.parse(await res.text()) as { error: { code: string; message: string } };
      expect(parsed.error.message.length).toBeGreaterThan(0);
      expect.soft({ case: c.name, message: parsed.error.message }).not.toEqual({ case: c.name, message: expect.stringMatching(INTERNAL) });
    }
    // The same errors in the log name where they came from, for the operator.
    expect(served.logs.some((line) => /@stowage\/stores-\w+ \w+StreamStore: stream closed is closed/.test(line))).toBe(true);
  });

  it("an offset of a position no number holds is malformed, in the protocol's terms (the store's fromOffset before)", async () => {
    const res = await fetch(`${base}/open?offset=0000000000000000_9999999999999999`);
    expect(res.status).toBe(400);
    const { error } = (await res.json()) as { error: { code: string; message: string } };
    expect(error.message).toBe('offset "0000000000000000_9999999999999999" is not an offset of this server, -1 or now');
  });
});
