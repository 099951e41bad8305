import type { AddressInfo } from 'node:net';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { assemble } from '../src/stores.js';

/** The README's walkthrough, over HTTP, on each backend. */
await describeStoreBackends(
  (backend) => {
    let set: StoreSet;
    let url = '';
    let close: () => Promise<void>;
    beforeAll(async () => {
      set = await backend.open(freshNamespace());
      const stores = assemble(
        [set.sessions(), set.rateLimits(), set.idempotency(), set.csrf(), set.locks(), set.jwks(), set.streams()],
        backend.name,
        async () => {},
      );
      const app = await createApp(stores, { selfUrl: () => url, sessionSecret: 'test secret' });
      const server = app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
      close = () => new Promise((r) => (server.closeAllConnections(), server.close(() => r()))).then(() => set.close());
    });
    afterAll(() => close());

    it('a browser session: CSRF token, login (new session id), me, logout', async () => {
      const first = await fetch(`${url}/account/csrf`);
      let cookie = first.headers.get('set-cookie')!.split(';')[0]!;
      const { csrfToken } = await first.json();
      expect(
        (
          await fetch(`${url}/account/login`, {
            method: 'POST',
            headers: { cookie, 'content-type': 'application/json' },
            body: '{"user":"ada"}',
          })
        ).status,
      ).toBe(403);
      const login = await fetch(`${url}/account/login`, {
        method: 'POST',
        headers: { cookie, 'content-type': 'application/json', 'x-csrf-token': csrfToken },
        body: '{"user":"ada"}',
      });
      expect(login.status).toBe(200);
      const loggedIn = login.headers.get('set-cookie')!.split(';')[0]!;
      expect(loggedIn).not.toBe(cookie);
      const { csrfToken: next } = await login.json();
      cookie = loggedIn;
      expect(await (await fetch(`${url}/account/me`, { headers: { cookie } })).json()).toEqual({ user: 'ada' });
      expect((await fetch(`${url}/account/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': csrfToken } })).status).toBe(403);
      expect((await fetch(`${url}/account/logout`, { method: 'POST', headers: { cookie, 'x-csrf-token': next } })).status).toBe(200);
      expect(await (await fetch(`${url}/account/me`, { headers: { cookie } })).json()).toEqual({ user: null });
    });

    it('the API: a JWT from the dev issuer, idempotent orders, a per-user burst limit, the orders feed', async () => {
      const { token } = await (
        await fetch(`${url}/dev/issuer/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"sub":"ada"}' })
      ).json();
      const auth = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
      expect((await fetch(`${url}/api/whoami`)).status).toBe(401);
      expect(await (await fetch(`${url}/api/whoami`, { headers: auth })).json()).toEqual({ user: 'ada' });

      const order = (key: string | undefined, body: string) =>
        fetch(`${url}/api/orders`, { method: 'POST', headers: { ...auth, ...(key ? { 'idempotency-key': key } : {}) }, body });
      expect((await order(undefined, '{"item":"book"}')).status).toBe(400);
      const created = await order('o-1', '{"item":"book","qty":2}');
      expect(created.status).toBe(201);
      // Both limits are told: the per-IP one (express-rate-limit) and the per-user ones.
      expect(created.headers.get('ratelimit-policy')).toMatch(
        /^"300-in-1min"; q=300; w=60; pk=:[\w+/=]+:, "burst";q=5;w=10, "daily";q=1000;w=86400$/,
      );
      const body = await created.json();
      const replay = await order('o-1', '{"item":"book","qty":2}');
      expect(replay.headers.get('idempotent-replayed')).toBe('true');
      expect(await replay.json()).toEqual(body);
      expect((await order('o-1', '{"item":"pen"}')).status).toBe(422);

      // A burst of 5 per 10 s, spent by every order request (the limit runs before the
      // idempotency check): the 400, o-1, its replay and the 422 took four.
      const statuses = [];
      for (let i = 2; i <= 4; i++) statuses.push((await order(`o-${i}`, '{"item":"x"}')).status);
      expect(statuses).toEqual([201, 429, 429]);

      const page = await (await fetch(`${url}/streams`)).text();
      expect([page.includes('read-only'), page.includes('PUT')]).toEqual([true, false]);
      const feed = await fetch(`${url}/streams/orders?offset=-1`);
      const orders = (await feed.json()) as Array<{ id: string; by: string }>;
      expect(orders.filter((o) => o.by === 'ada').map((o) => o.id)).toContain(body.id);
      expect(orders.filter((o) => o.by === 'ada')).toHaveLength(2);
      expect(
        (await fetch(`${url}/streams/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).status,
      ).toBe(405);
    });
  },
  ['sqlite', 'postgres', 'redis'],
);
