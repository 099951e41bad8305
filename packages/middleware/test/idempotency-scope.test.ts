// Keys are scoped by principal alone: a key is unique per client. The method, full path and
// query and the body are the fingerprint, so one key on two spellings of a route, two mount
// points or two methods is 422, never a second run. And what a key may be (RFC 8941).
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import express from 'express';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { idempotency } from '../src/express.js';
import { headerOf, listen, send, type RawResponse, type Running } from './http.js';

await describeStoreBackends((backend) => {
  let set: StoreSet;
  let app: Running;
  const runs: string[] = [];
  beforeAll(async () => {
    set = await backend.open(freshNamespace());
    const store = set.idempotency();
    const principal = (req: express.Request) => req.headers['x-user'] as string | undefined;
    const a = express(); // Express's defaults: case-insensitive, non-strict routing
    a.use(express.json());
    const orders = (where: string) => (_req: express.Request, res: express.Response) => {
      runs.push(where);
      res.status(201).json({ where, run: runs.length });
    };
    a.post('/orders', idempotency({ store, principal }), orders('orders'));
    a.patch('/orders', idempotency({ store, principal }), orders('orders (PATCH)'));
    // The same middleware mounted twice: req.path is '/orders' under both mount points.
    for (const mount of ['/api', '/admin'])
      a.use(mount, idempotency({ store, principal }), express.Router().post('/orders', orders(mount)));
    app = await listen(a);
  });
  afterAll(async () => {
    await app.close();
    await set.close();
  });

  const call = (path: string, key: string | string[], init: { method?: string; user?: string; body?: string } = {}): Promise<RawResponse> =>
    send(`${app.url}${path}`, {
      method: init.method ?? 'POST',
      // An array is sent as several header lines (Node's http client takes string[]).
      headers: {
        'content-type': 'application/json',
        'idempotency-key': key as string,
        ...(init.user === undefined ? {} : { 'x-user': init.user }),
      },
      body: init.body ?? '{"item":"book"}',
    });
  const statuses = async (requests: Array<() => Promise<RawResponse>>) => {
    const out: number[] = [];
    for (const r of requests) out.push((await r()).status);
    return out;
  };

  it('one key on /orders, /orders/ and /ORDERS (one Express handler) runs once: the others are 422', async () => {
    const before = runs.length;
    const first = await call('/orders', 'same-key-1', { user: 'alice' });
    expect(first.status).toBe(201);
    expect(
      await statuses([() => call('/orders/', 'same-key-1', { user: 'alice' }), () => call('/ORDERS', 'same-key-1', { user: 'alice' })]),
    ).toEqual([422, 422]);
    const replay = await call('/orders', 'same-key-1', { user: 'alice' });
    expect([replay.status, headerOf(replay, 'idempotent-replayed'), replay.body.equals(first.body)]).toEqual([201, 'true', true]);
    expect(runs.length - before).toBe(1);
  });

  it('one key under two mount points, or with another method or query, runs once: the others are 422', async () => {
    const before = runs.length;
    expect((await call('/api/orders', 'mounted', { user: 'bob' })).status).toBe(201);
    expect(
      await statuses([() => call('/admin/orders', 'mounted', { user: 'bob' }), () => call('/api/orders?x=1', 'mounted', { user: 'bob' })]),
    ).toEqual([422, 422]);
    expect((await call('/orders', 'by-method', { user: 'bob' })).status).toBe(201);
    expect((await call('/orders', 'by-method', { user: 'bob', method: 'PATCH' })).status).toBe(422);
    expect(runs.slice(before)).toEqual(['/api', 'orders']);
  });

  it('another principal has its own keys; no principal and the principal "-" are two scopes', async () => {
    const before = runs.length;
    expect(await statuses([() => call('/orders', 'shared', { user: 'carol' }), () => call('/orders', 'shared', { user: 'dave' })])).toEqual(
      [201, 201],
    );
    const json = (r: RawResponse) => (JSON.parse(r.body.toString()) as { run: number }).run;
    const none = json(await call('/orders', 'k-dash'));
    const dash = json(await call('/orders', 'k-dash', { user: '-' }));
    expect(dash).toBe(none + 1);
    // each its own replay
    expect([json(await call('/orders', 'k-dash', { user: '-' })), json(await call('/orders', 'k-dash'))]).toEqual([dash, none]);
    expect(runs.length - before).toBe(4);
  });

  it('a malformed key is 400 and runs nothing: empty, unterminated, with parameters, a list, over 255', async () => {
    const before = runs.length;
    const bad = [
      '""',
      '"abc',
      'abc"',
      '"abc";p=1',
      'abc;p=1',
      'a,b',
      'a"b',
      '"a\\x"',
      'x'.repeat(256),
      `"${'x'.repeat(256)}"`,
      ['k1', 'k2'],
    ];
    for (const key of bad) {
      const r = await call('/orders', key, { user: 'erin' });
      expect([JSON.stringify(key), r.status, headerOf(r, 'content-type')]).toEqual([JSON.stringify(key), 400, 'application/problem+json']);
      expect(JSON.parse(r.body.toString()).type).toBe('urn:stowage:problem:idempotency-key-invalid');
    }
    expect(runs.length - before).toBe(0);
  });

  it('a well-formed key runs once: an sf-string (spaces, escapes) is the same key as its bare form', async () => {
    const before = runs.length;
    expect((await call('/orders', '"k 1"', { user: 'frank' })).status).toBe(201);
    expect(headerOf(await call('/orders', '"k 1"', { user: 'frank' }), 'idempotent-replayed')).toBe('true');
    expect((await call('/orders', '"a\\"b\\\\c"', { user: 'frank' })).status).toBe(201);
    expect((await call('/orders', '"abc"', { user: 'frank' })).status).toBe(201);
    expect(headerOf(await call('/orders', 'abc', { user: 'frank' }), 'idempotent-replayed')).toBe('true');
    expect((await call('/orders', 'x'.repeat(255), { user: 'frank' })).status).toBe(201);
    expect((await call('/orders', `"${'y'.repeat(255)}"`, { user: 'frank' })).status).toBe(201);
    expect(runs.length - before).toBe(5);
  });
});
