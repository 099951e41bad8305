import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { serve, type ServerType } from '@hono/node-server';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csrf, idempotency, rateLimit } from '../src/hono.js';

// The bindings are backend-independent (the Express tests cover every backend); two suffice.
await describeStoreBackends(
  (backend) => {
    let set: StoreSet;
    let server: ServerType;
    let url = '';
    let runs = 0;
    beforeAll(async () => {
      set = await backend.open(freshNamespace());
      const app = new Hono();
      app.use('/limited', rateLimit({ store: set.rateLimits(), policies: { algorithm: 'fixed-window', limit: 2, windowMs: 60_000 } }));
      app.get('/limited', (c) => c.json({ ok: true }));
      // Responses whose headers cannot change: a redirect, and another route's answer by fetch().
      const loose = rateLimit({ store: set.rateLimits(), policies: { algorithm: 'fixed-window', limit: 100, windowMs: 60_000 } });
      app.use('/immutable/*', loose);
      app.get('/immutable/redirect', () => Response.redirect(`${url}/plain`, 302));
      app.get('/immutable/fetched', () => fetch(`${url}/plain`));
      app.get('/plain', (c) => c.text('plain'));
      app.use('/orders', idempotency({ store: set.idempotency(), required: true }));
      app.post('/orders', async (c) => {
        runs++;
        const { item, fail } = await c.req.json<{ item: string; fail?: boolean }>();
        if (fail) throw new Error('handler failed');
        return c.json({ id: runs, item }, 201, { 'X-Order-Id': `o-${runs}` });
      });
      const protect = csrf({ store: set.csrf(), sessionId: (c) => c.req.header('x-session') });
      app.use('/form/*', protect);
      app.get('/form/token', async (c) => c.json({ token: await (c.get('csrfToken' as never) as () => Promise<string>)() }));
      app.post('/form/submit', async (c) => c.json({ ok: true }));
      await new Promise<void>((resolve) => {
        server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
          url = `http://127.0.0.1:${info.port}`;
          resolve();
        });
      });
    });
    afterAll(async () => {
      await new Promise((r) => server.close(r));
      await set.close();
    });

    it('rateLimit: headers from the socket address key, then 429', async () => {
      const ok = await fetch(`${url}/limited`);
      expect(ok.headers.get('ratelimit')).toMatch(/^"default";r=1;t=\d+$/);
      expect((await fetch(`${url}/limited`)).status).toBe(200);
      const denied = await fetch(`${url}/limited`);
      expect(denied.status).toBe(429);
      expect(denied.headers.get('retry-after')).not.toBeNull();
    });

    it('rateLimit: a response with immutable headers gets them all the same, its status and body intact', async () => {
      const redirect = await fetch(`${url}/immutable/redirect`, { redirect: 'manual' });
      expect([redirect.status, redirect.headers.get('location')]).toEqual([302, `${url}/plain`]);
      expect(redirect.headers.get('ratelimit')).toMatch(/^"default";r=99;t=\d+$/);
      const fetched = await fetch(`${url}/immutable/fetched`);
      expect([fetched.status, await fetched.text()]).toEqual([200, 'plain']);
      expect(fetched.headers.get('ratelimit')).toMatch(/^"default";r=98;t=\d+$/);
    });

    it('idempotency: replay with Idempotent-Replayed, 422 on another payload, a failed handler frees the key', async () => {
      const post = (body: unknown, key: string) =>
        fetch(`${url}/orders`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'idempotency-key': key },
          body: JSON.stringify(body),
        });
      expect((await fetch(`${url}/orders`, { method: 'POST', body: '{}' })).status).toBe(400);
      const first = await post({ item: 'a' }, 'h-1');
      expect(first.status).toBe(201);
      const replay = await post({ item: 'a' }, 'h-1');
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(replay.headers.get('x-order-id')).toBe(first.headers.get('x-order-id'));
      expect(await replay.json()).toEqual(await first.json());
      expect((await post({ item: 'b' }, 'h-1')).status).toBe(422);
      const before = runs;
      expect((await post({ item: 'c', fail: true }, 'h-2')).status).toBe(500);
      await sleep(20);
      expect((await post({ item: 'c', fail: true }, 'h-2')).status).toBe(500);
      expect(runs).toBe(before + 2);
    });

    it('csrf: a token of the session in the header or a form field passes; others are 403', async () => {
      const { token } = await (await fetch(`${url}/form/token`, { headers: { 'x-session': 's1' } })).json();
      const submit = (headers: Record<string, string>, body?: string) =>
        fetch(`${url}/form/submit`, { method: 'POST', headers, ...(body === undefined ? {} : { body }) });
      expect((await submit({ 'x-session': 's1' })).status).toBe(403);
      expect((await submit({ 'x-session': 's1', 'x-csrf-token': token })).status).toBe(200);
      expect((await submit({ 'x-session': 's1', 'content-type': 'application/x-www-form-urlencoded' }, `_csrf=${token}`)).status).toBe(200);
      expect((await submit({ 'x-session': 's2', 'x-csrf-token': token })).status).toBe(403);
    });
  },
  ['memory', 'sqlite'],
);

describe('hono csrf options', () => {
  it('requires sessionId', () => {
    expect(() => csrf({ store: {} as never } as never)).toThrow(/sessionId/);
  });
});
