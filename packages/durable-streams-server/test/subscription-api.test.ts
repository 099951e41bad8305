import { createSubscriptionStore, type SubscriptionStore } from '@stowage/core';
import { afterEach, describe, expect, it } from 'vitest';
import { createStreamsServer } from '../src/index.js';
import { type OpenedTestStore, testSigningKeys } from './helpers.js';
import { Receiver } from './scripted-receiver.js';
import { openMemoryStore } from './stores.js';
import {
  eventuallyValue,
  getJson,
  overriding,
  postJson,
  putJson,
  type SubscriptionServer,
  type SubscriptionServerOptions,
  startSubscriptionServer,
} from './subscription-server.js';

/** The HTTP side of the reserved subscription APIs: routing, errors, limits, and what is never sent. */

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function opened(): Promise<OpenedTestStore> {
  const o = await openMemoryStore();
  cleanups.push(() => o.close());
  return o;
}

async function serve(o: SubscriptionServerOptions = {}, store?: OpenedTestStore): Promise<SubscriptionServer> {
  const s = await startSubscriptionServer(store ?? (await opened()), o);
  cleanups.push(() => s.close());
  return s;
}

async function receiver(): Promise<Receiver> {
  const r = await Receiver.start();
  cleanups.push(() => r.close());
  return r;
}

const errorOf = async (res: Response): Promise<{ status: number; code: string; message: string }> => {
  const body = (await res.json()) as { error: { code: string; message: string } };
  return { status: res.status, code: body.error.code, message: body.error.message };
};

const pull = { type: 'pull-wake', pattern: 'ev/*', wake_stream: 'wakes' };

describe('the reserved subscription APIs', () => {
  it('keep __ds/... reserved when subscriptions are off: 404, no stream made there', async () => {
    const o = await opened();
    const server = createStreamsServer({ store: o.store, log: false });
    cleanups.push(() => server.close());
    const base = await server.listen(0);
    for (const path of ['__ds', '__ds/', '__ds/subscriptions/x', '__ds/health/x', '__ds/foo/bar']) {
      const put = await fetch(`${base}/${path}`, { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'hi' });
      expect(put.status, `PUT ${path}`).toBe(404);
      expect(await put.text(), `PUT ${path}`).toContain('reserved');
      expect((await fetch(`${base}/${path}?offset=-1`)).status, `GET ${path}`).toBe(404);
    }
    for (const name of ['__ds', '__ds/subscriptions/x', '__ds/health/x', '__ds/foo/bar']) expect(await o.store.head(name)).toBeUndefined();
    expect((await fetch(`${base}/__ds/health/live`)).status).toBe(200);
    // A mistyped health path is told where the health paths are.
    expect(await (await fetch(`${base}/__ds/Health/live`)).text()).toContain('health: /__ds/health/live, /__ds/health/ready');
    await expect(server.rotateSigningKey()).rejects.toThrow(/not enabled/);
  });

  it('answer protocol errors as {"error": {"code", "message"}} with their statuses, one log line each', async () => {
    const s = await serve({ maxBodyBytes: 1000 });
    const sub = s.url('__ds/subscriptions/e1');
    const bad = (init: RequestInit) => fetch(sub, init).then(errorOf);
    expect(await bad({ method: 'PUT', body: '{"type":' })).toMatchObject({
      status: 400,
      code: 'INVALID_REQUEST',
      message: 'the body is not valid JSON',
    });
    expect(await bad({ method: 'PUT', body: '[1]' })).toMatchObject({ status: 400, code: 'INVALID_REQUEST' });
    expect(await bad({ method: 'PUT' })).toMatchObject({ status: 400, message: expect.stringContaining('type') });
    expect(await bad(putJson({ type: 'pull-wake', wake_stream: 'w' }))).toMatchObject({
      status: 400,
      message: expect.stringContaining('pattern or streams'),
    });
    expect(await bad(putJson({ ...pull, lease_ttl_ms: 999 }))).toMatchObject({
      status: 400,
      message: expect.stringContaining('lease_ttl_ms'),
    });
    expect(await bad(putJson({ ...pull, lease_ttl_ms: 600_001 }))).toMatchObject({ status: 400 });
    expect(await bad(putJson({ type: 'pull-wake', pattern: 'a' }))).toMatchObject({
      status: 400,
      message: expect.stringContaining('wake_stream'),
    });
    expect(await bad(putJson({ type: 'webhook', pattern: 'a' }))).toMatchObject({
      status: 400,
      message: expect.stringContaining('webhook.url'),
    });
    expect(await bad(putJson({ ...pull, streams: 'a' }))).toMatchObject({ status: 400, message: expect.stringContaining('streams') });
    // Over the body limit: the server's usual 413.
    const big = await fetch(sub, putJson({ ...pull, description: 'x'.repeat(2000) }));
    expect(big.status).toBe(413);
    expect(await fetch(sub).then(errorOf)).toMatchObject({ status: 404, code: 'SUBSCRIPTION_NOT_FOUND' });
    for (const path of [
      '__ds',
      '__ds/',
      '__ds/nope',
      '__ds/subscriptions',
      '__ds/subscriptions/',
      '__ds/subscriptions/e1/nope',
      '__ds/subscriptions/e1/claim/x',
    ]) {
      expect(await fetch(s.url(path), { method: 'POST' }).then(errorOf), path).toMatchObject({
        status: 404,
        code: 'SUBSCRIPTION_NOT_FOUND',
      });
    }
    const wrong = await fetch(`${sub}/claim`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST, OPTIONS');
    const options = await fetch(sub, { method: 'OPTIONS' });
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe('GET, HEAD, PUT, DELETE, OPTIONS');
    expect((await fetch(s.url('__ds/jwks.json'), { method: 'POST' })).status).toBe(405);
    expect(s.logs.filter((l) => / 4\d\d /.test(l)).length).toBeGreaterThanOrEqual(17);
  });

  it('create, confirm, conflict, read (HEAD too), link and unlink streams, delete', async () => {
    const s = await serve();
    // An id with a slash and a space, percent-encoded in the URL.
    const sub = s.url(`__ds/subscriptions/${encodeURIComponent('team/a b')}`);
    const def = { type: 'pull-wake', streams: ['/manual/a/'], wake_stream: 'wakes', lease_ttl_ms: 5000, description: 'd' };
    const created = await fetch(sub, putJson(def));
    expect(created.status).toBe(201);
    expect(await created.json()).toMatchObject({
      id: 'team/a b',
      subscription_id: 'team/a b',
      type: 'pull-wake',
      streams: [{ path: 'manual/a', link_type: 'explicit', acked_offset: '-1' }],
      wake_stream: 'wakes',
      lease_ttl_ms: 5000,
      status: 'active',
      description: 'd',
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });
    expect((await fetch(sub, putJson(def))).status).toBe(200);
    expect(await fetch(sub, putJson({ ...def, lease_ttl_ms: 6000 })).then(errorOf)).toMatchObject({
      status: 409,
      code: 'SUBSCRIPTION_ALREADY_EXISTS',
    });
    const head = await fetch(sub, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    expect((await fetch(`${sub}/streams`, postJson({ streams: ['manual/b', 'manual/c'] }))).status).toBe(204);
    expect((await fetch(`${sub}/streams/${encodeURIComponent('manual/b')}`, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(`${sub}/streams/manual/c`, { method: 'DELETE' })).status).toBe(204);
    expect((await getJson(sub)).streams.map((l: { path: string }) => l.path)).toEqual(['manual/a']);
    expect((await fetch(`${sub}/streams`, postJson({ streams: [] }))).status).toBe(400);
    expect(await fetch(s.url('__ds/subscriptions/none/streams'), postJson({ streams: ['a'] })).then(errorOf)).toMatchObject({
      status: 404,
    });
    expect((await fetch(sub, { method: 'DELETE' })).status).toBe(204);
    expect((await fetch(sub)).status).toBe(404);
  });

  it('refuse webhook subscriptions when webhooks are off; pull-wake works', async () => {
    const s = await serve({ subscriptions: { webhooks: false } });
    const r = await receiver();
    const refused = await fetch(s.url('__ds/subscriptions/w'), putJson({ type: 'webhook', pattern: 'ev/*', webhook: { url: r.url } }));
    expect(await errorOf(refused)).toEqual({ status: 400, code: 'INVALID_REQUEST', message: 'webhook subscriptions are not enabled' });
    expect((await fetch(s.url('__ds/subscriptions/p'), putJson(pull))).status).toBe(201);
    expect(await getJson(s.url('__ds/jwks.json'))).toEqual({ keys: [] });
  });

  it('refuse an unsafe webhook URL at PUT, so nothing is ever sent to it', async () => {
    // No allow list: the receiver on 127.0.0.1 is a loopback address like any other.
    const s = await serve({ subscriptions: { allowWebhookHosts: [] } });
    const r = await receiver();
    for (const url of [
      r.url,
      'http://10.0.0.1/hook',
      'http://0x7f.1/',
      'http://[::ffff:127.0.0.1]/',
      'http://localhost:1/',
      'http://u:p@example.com/',
    ]) {
      const res = await fetch(s.url('__ds/subscriptions/ssrf'), putJson({ type: 'webhook', pattern: 'ev/*', webhook: { url } }));
      expect(await errorOf(res), url).toMatchObject({ status: 400, code: 'WEBHOOK_URL_REJECTED' });
    }
    expect((await fetch(s.url('__ds/subscriptions/ssrf'))).status).toBe(404);
    expect((await fetch(s.url('ev/x'), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' })).status).toBe(201);
    await new Promise((res) => setTimeout(res, 100));
    expect(r.deliveries).toHaveLength(0);
  });

  it('refuse at delivery a host this replica does not allow: nothing is sent, retries included', async () => {
    const shared = await opened();
    const r = await receiver();
    // Replica A allows the receiver but never polls; replica B allows nothing and retries fast.
    const a = await serve({ subscriptions: { pollIntervalMs: 600_000 } }, shared);
    const b = await serve({ subscriptions: { allowWebhookHosts: [] }, store: { retryBaseMs: 20 } }, shared);
    expect(
      (await fetch(a.url('__ds/subscriptions/d'), putJson({ type: 'webhook', pattern: 'ev/*', webhook: { url: r.url } }))).status,
    ).toBe(201);
    expect((await fetch(b.url('ev/1'), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' })).status).toBe(201);
    await eventuallyValue(
      async () => b.logs.filter((l) => l.includes('a loopback address')).length,
      (n) => n >= 3,
    );
    expect((await getJson(a.url('__ds/subscriptions/d'))).status).toBe('failed');
    expect(r.deliveries).toHaveLength(0);
  });

  it('claims, acks and releases pull-wake wakes; the wake event lands on the wake stream', async () => {
    const s = await serve();
    const sub = s.url('__ds/subscriptions/pw');
    expect((await fetch(s.url('wakes'), { method: 'PUT', headers: { 'content-type': 'application/json' } })).status).toBe(201);
    expect((await fetch(sub, putJson(pull))).status).toBe(201);
    expect(await fetch(`${sub}/claim`, postJson({ worker: 'w1' })).then(errorOf)).toMatchObject({ status: 409, code: 'NO_PENDING_WORK' });
    const put = await fetch(s.url('ev/a'), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'job' });
    const tail = put.headers.get('stream-next-offset')!;
    const events = await eventuallyValue(
      () => getJson(s.url('wakes')),
      (e: unknown[]) => e.length === 1,
    );
    expect(events[0]).toMatchObject({ type: 'wake', subscription_id: 'pw', stream: 'ev/a', generation: 1, ts: expect.any(Number) });
    expect(await fetch(`${sub}/claim`, postJson({})).then(errorOf)).toMatchObject({ status: 400 });
    const claim = await fetch(`${sub}/claim`, postJson({ worker: 'w1' }));
    expect(claim.status).toBe(200);
    const c = (await claim.json()) as { wake_id: string; generation: number; token: string; streams: unknown[]; lease_ttl_ms: number };
    expect(c).toMatchObject({
      generation: 1,
      lease_ttl_ms: 30_000,
      streams: [{ path: 'ev/a', tail_offset: tail, has_pending: true, acked_offset: '-1' }],
    });
    expect(
      await fetch(`${sub}/claim`, postJson({ worker: 'w2' })).then(async (res) => ({ status: res.status, ...(await res.json()) })),
    ).toMatchObject({
      status: 409,
      error: { code: 'ALREADY_CLAIMED', current_holder: 'w1', generation: 1 },
    });
    const ack = { wake_id: c.wake_id, generation: c.generation, acks: [{ stream: 'ev/a', offset: tail }] };
    expect(await fetch(`${sub}/ack`, postJson(ack)).then(errorOf)).toMatchObject({ status: 401, code: 'TOKEN_INVALID' });
    expect(await fetch(`${sub}/ack`, postJson(ack, 'x.y')).then(errorOf)).toMatchObject({ status: 401, code: 'TOKEN_INVALID' });
    expect(await fetch(`${sub}/ack`, postJson({ ...ack, generation: 'one' }, c.token)).then(errorOf)).toMatchObject({ status: 400 });
    expect(
      await fetch(`${sub}/ack`, postJson({ ...ack, acks: [{ stream: 'ev/zzz', offset: tail }] }, c.token)).then(errorOf),
    ).toMatchObject({
      status: 409,
      code: 'INVALID_OFFSET',
    });
    const ok = await fetch(`${sub}/ack`, postJson({ ...ack, done: false }, c.token));
    expect(await ok.json()).toEqual({ ok: true, next_wake: false });
    // A second append while claimed: the release ends this wake and starts the next at once.
    expect((await fetch(s.url('ev/a'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'more' })).status).toBe(204);
    const release = await fetch(`${sub}/release`, postJson({ wake_id: c.wake_id, generation: c.generation }, c.token));
    expect(release.status).toBe(204);
    const after = await eventuallyValue(
      () => getJson(s.url('wakes')),
      (e: unknown[]) => e.length === 2,
    );
    expect(after[1]).toMatchObject({ subscription_id: 'pw', generation: 2, stream: 'ev/a' });
    const stale = await fetch(`${sub}/release`, postJson({ wake_id: c.wake_id, generation: c.generation }, c.token));
    expect(await errorOf(stale)).toMatchObject({ status: 409, code: 'FENCED' });
  });

  it('never fail an append for subscriptions: a failing store and a missing wake stream are logged', async () => {
    const o = await opened();
    const real = createSubscriptionStore({ sessions: o.sessions });
    const failing = overriding<SubscriptionStore>(real, { noteAppend: () => Promise.reject(new Error('backend down')) });
    const s = await serve({ subscriptions: { store: failing } }, o);
    const put = await fetch(s.url('ev/a'), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' });
    expect(put.status).toBe(201);
    expect((await fetch(s.url('ev/a'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'y' })).status).toBe(204);
    expect(s.logs.filter((l) => l.includes('noteAppend("ev/a") failed: backend down'))).toHaveLength(2);

    const t = await serve({}, await opened());
    expect((await fetch(t.url('__ds/subscriptions/nowake'), putJson(pull))).status).toBe(201);
    expect((await fetch(t.url('ev/b'), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' })).status).toBe(201);
    await eventuallyValue(
      async () => t.logs.some((l) => l.includes('no event on wakes: the wake stream does not exist')),
      (found) => found,
    );
    // The wake exists all the same: a worker can claim it.
    expect((await fetch(t.url('__ds/subscriptions/nowake/claim'), postJson({ worker: 'w' }))).status).toBe(200);
  });

  it('forget a deleted stream in its subscriptions', async () => {
    const s = await serve();
    expect((await fetch(s.url('__ds/subscriptions/del'), putJson({ ...pull, pattern: undefined, streams: ['gone'] }))).status).toBe(201);
    expect((await fetch(s.url('gone'), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' })).status).toBe(201);
    expect((await getJson(s.url('__ds/subscriptions/del'))).streams).toHaveLength(1);
    expect((await fetch(s.url('gone'), { method: 'DELETE' })).status).toBe(204);
    expect((await getJson(s.url('__ds/subscriptions/del'))).streams).toEqual([]);
  });

  it('stop polling the store at close, and check the options', async () => {
    const o = await opened();
    const real = createSubscriptionStore({ sessions: o.sessions });
    let polls = 0;
    const counting = overriding<SubscriptionStore>(real, {
      takeDue: (opts) => {
        polls++;
        return real.takeDue(opts);
      },
    });
    const s = await startSubscriptionServer(o, { subscriptions: { store: counting, pollIntervalMs: 5 } });
    await eventuallyValue(
      async () => polls,
      (n) => n >= 3,
    );
    await s.close();
    const atClose = polls;
    await new Promise((r) => setTimeout(r, 100));
    expect(polls).toBe(atClose);

    const store = o.store;
    expect(() => createStreamsServer({ store, subscriptions: { store: real, webhooks: true } })).toThrow(/signingKeys/);
    expect(() => createStreamsServer({ store, subscriptions: { store: real, signingKeys: [{ id: 'k', key: 'short' }] } })).toThrow(
      /32 bytes/,
    );
    expect(() => createStreamsServer({ store, subscriptions: { store: real, publicBaseUrl: 'https://x.example/path' } })).toThrow(/origin/);
    expect(() => createStreamsServer({ store, subscriptions: { store: {} as SubscriptionStore } })).toThrow(/SubscriptionStore/);
    const keyed = createStreamsServer({
      store,
      log: false,
      subscriptions: { store: real, signingKeys: testSigningKeys(), publicBaseUrl: 'https://x.example' },
    });
    await keyed.close();
  });

  it('use publicBaseUrl in the URLs it answers, whatever the Host header says', async () => {
    const s = await serve({ subscriptions: { publicBaseUrl: 'https://streams.example.com' } });
    const r = await receiver();
    const res = await fetch(s.url('__ds/subscriptions/pub'), putJson({ type: 'webhook', streams: ['a'], webhook: { url: r.url } }));
    expect((await res.json()).webhook.signing.jwks_url).toBe('https://streams.example.com/s/__ds/jwks.json');
  });
});
