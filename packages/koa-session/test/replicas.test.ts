import { jsonCodec } from '@stowage/core';
import { describeStoreBackends } from '@stowage/test-stores';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StowageKoaSessionStore } from '../src/index.js';
import { COOKIE, koaApp, type RunningApp } from './app.js';
import { Browser } from '@stowage/test-stores';
import { callsOf, recording, writesOf, type StoreCall } from './recording.js';
import { openReplicas, type Replicas } from './replicas.js';

// Two Koa apps (replicas A and B), each with its own adapter and its own connection, over one
// store: what one replica does to a session, the other sees on its next request.
await describeStoreBackends((backend) => {
  describe('two Koa replicas over one store', () => {
    let replicas: Replicas;
    let calls: StoreCall[];
    let a: RunningApp;
    let b: RunningApp;
    beforeAll(async () => {
      replicas = await openReplicas(backend);
      const recA = recording(replicas.a);
      calls = recA.calls;
      a = await koaApp(new StowageKoaSessionStore({ store: recA.store }));
      b = await koaApp(new StowageKoaSessionStore({ store: replicas.b }));
    });
    afterAll(async () => {
      await a.close();
      await b.close();
      await replicas.close();
    });

    it('login on A is seen on B, a change on B is seen on A, and logout on B is seen on A', async () => {
      const onA = new Browser(a.url);
      expect((await onA.request('GET', '/me')).json).toEqual({ user: null, views: 0 });
      expect(onA.cookie(COOKIE)).toBeUndefined(); // an empty new session is neither stored nor sent
      expect((await onA.request('POST', '/login', { user: 'ada' })).status).toBe(200);
      const key = onA.cookie(COOKIE)!;
      expect(key).toMatch(/^[0-9a-f-]{36}$/);
      const onB = onA.clone(b.url);
      expect((await onB.request('GET', '/me')).json).toEqual({ user: 'ada', views: 1 });
      expect((await onA.request('GET', '/me')).json).toEqual({ user: 'ada', views: 2 });
      expect((await onB.request('GET', '/me')).json).toEqual({ user: 'ada', views: 3 });
      const record = (await replicas.a.get(key))!;
      expect(record.version).toBe(4); // login, then one write per view
      expect(jsonCodec.decode(record.data, key)).toMatchObject({ user: 'ada', views: 3, _maxAge: 86_400_000 });

      expect((await onB.request('POST', '/logout')).status).toBe(200);
      expect(onB.cookie(COOKIE)).toBeUndefined(); // koa-session expired the cookie
      expect(await replicas.a.get(key)).toBeUndefined();
      // A browser that kept the cookie (here, A's) gets a new, empty session: nothing is recreated.
      expect((await onA.request('GET', '/me')).json).toEqual({ user: null, views: 0 });
      expect(await replicas.b.get(key)).toBeUndefined();
    });

    it('a read-only request writes nothing; koa-session passes the cookie maxAge plus its 10 s margin', async () => {
      const onA = new Browser(a.url);
      await onA.request('POST', '/login', { user: 'bob' });
      const key = onA.cookie(COOKIE)!;
      const before = calls.length;
      expect((await onA.clone(b.url).request('GET', '/peek')).json).toEqual({ user: 'bob' });
      expect((await onA.request('GET', '/peek')).json).toEqual({ user: 'bob' });
      expect(calls.slice(before).map((c) => c.method)).toEqual(['get']); // B's calls are not recorded
      const [login] = writesOf(calls, key);
      expect(login!.opts!['ttlMs']).toBe(86_400_000 + 10_000);
      expect(login!.opts!['ifVersion']).toBe(0);
      expect(callsOf(calls, 'touch')).toEqual([]);
    });

    it('regenerate on A moves the session to a new key: a copied old cookie gets nothing on B', async () => {
      const onA = new Browser(a.url);
      await onA.request('POST', '/login', { user: 'cy' });
      const old = onA.cookie(COOKIE)!;
      const copied = onA.clone(b.url);
      expect((await onA.request('POST', '/rotate')).status).toBe(200);
      const rotated = onA.cookie(COOKIE)!;
      expect(rotated).not.toBe(old);
      expect(await replicas.b.get(old)).toBeUndefined();
      expect((await replicas.b.get(rotated))!.version).toBe(1);
      expect((await copied.request('GET', '/peek')).json).toEqual({ user: null });
      expect((await onA.clone(b.url).request('GET', '/peek')).json).toEqual({ user: 'cy' });
    });

    it('login over an existing session regenerates it: the key changes, the old key is gone on both replicas', async () => {
      const onB = new Browser(b.url);
      await onB.request('POST', '/login', { user: 'di' });
      const first = onB.cookie(COOKIE)!;
      await onB.clone(a.url).request('POST', '/login', { user: 'eve' });
      expect(await replicas.b.get(first)).toBeUndefined();
      expect((await onB.request('GET', '/peek')).json).toEqual({ user: null }); // B's browser still holds the old key
    });
  });
});
