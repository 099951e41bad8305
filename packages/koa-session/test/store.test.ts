import { randomBytes } from 'node:crypto';
import { encryptedCodec, HASHED_KEY_PREFIX, toStoreKey } from '@stowage/core';
import { asJsonHeader, describeStoreBackends, UNKEYABLE_REQUEST_DATA } from '@stowage/test-stores';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { StowageKoaSessionStore, type StowageKoaSessionStoreOptions } from '../src/index.js';
import { COOKIE, koaApp, type KoaAppOptions, type RunningApp } from './app.js';
import { Gates } from '@stowage/test-stores';
import { Browser } from '@stowage/test-stores';
import { openReplicas, type Replicas } from './replicas.js';

// The options, on every backend, with two replicas: codecs, keys from request data, owners,
// and a 'conflict' listener that throws.
await describeStoreBackends((backend) => {
  describe('options', () => {
    let replicas: Replicas;
    let opened: RunningApp[] = [];
    beforeAll(async () => {
      replicas = await openReplicas(backend);
    });
    afterAll(async () => {
      await replicas.close();
    });
    afterEach(async () => {
      for (const app of opened) await app.close();
      opened = [];
    });
    /** Replicas A and B with these adapter and app options. */
    async function apps(store: Omit<StowageKoaSessionStoreOptions, 'store'> = {}, app: KoaAppOptions = {}) {
      const a = await koaApp(new StowageKoaSessionStore({ ...store, store: replicas.a }), app);
      const b = await koaApp(new StowageKoaSessionStore({ ...store, store: replicas.b }), app);
      opened.push(a, b);
      return [a, b] as const;
    }

    it('encryptedCodec: no plaintext in the store, both replicas read it; under a retired key it is no session', async () => {
      const k1 = { id: 'k1', key: randomBytes(32) };
      const k2 = { id: 'k2', key: randomBytes(32) };
      const [a, b] = await apps({ codec: encryptedCodec({ keys: [k1] }) });
      const browser = new Browser(a.url);
      await browser.request('POST', '/login', { user: 'ada' });
      await browser.clone(b.url).request('POST', '/put', { fields: { secret: 'plaintext-marker' } });
      const key = browser.cookie(COOKIE)!;
      const bytes = Buffer.from((await replicas.a.get(key))!.data);
      expect(bytes.includes('plaintext-marker')).toBe(false);
      expect(bytes.includes('ada')).toBe(false);
      expect((await browser.request('GET', '/state')).json.data).toEqual({ user: 'ada', secret: 'plaintext-marker' });

      const [rotated] = await apps({ codec: encryptedCodec({ keys: [k2, k1] }) }); // k1 still decrypts
      expect((await browser.clone(rotated.url).request('GET', '/peek')).json).toEqual({ user: 'ada' });
      const [retired] = await apps({ codec: encryptedCodec({ keys: [k2] }) });
      const r = await browser.clone(retired.url).request('GET', '/state');
      expect(r).toMatchObject({ status: 200, json: { isNew: true, data: {} } });
      expect(retired.errors).toEqual([]);
    });

    it('any string is a key: one the store cannot take is hashed (never refused), a readable one is kept', async () => {
      const [a, b] = await apps({}, { headerKeys: true });
      const keys = { ...UNKEYABLE_REQUEST_DATA, readable: 'readable-key' };
      for (const [what, key] of Object.entries(keys)) {
        const header = asJsonHeader(key);
        const made = await new Browser(a.url).request('POST', '/put', { fields: { what } }, { 'x-genid': header });
        expect(made.status).toBe(200);
        const id = toStoreKey(key);
        expect(id.startsWith(HASHED_KEY_PREFIX)).toBe(what !== 'readable');
        expect(await replicas.a.get(id)).toBeDefined();
        const read = await new Browser(b.url).request('GET', '/state', undefined, { 'x-session': header });
        expect(read.json).toEqual({ isNew: false, data: { what } });
        expect((await new Browser(b.url).request('POST', '/logout', undefined, { 'x-session': header })).status).toBe(200);
        expect(await replicas.a.get(id)).toBeUndefined();
        // A key nobody stored (a forged one): no session, no error.
        const forged = await new Browser(a.url).request('GET', '/state', undefined, { 'x-session': asJsonHeader(`${key}\ud800`) });
        expect(forged).toMatchObject({ status: 200, json: { isNew: true, data: {} } });
      }
      expect([a.errors, b.errors]).toEqual([[], []]);
    });

    it('owner: destroyByOwner signs a user out on every device, whichever replica made the session', async () => {
      const owner = (s: Record<string, unknown>) => (typeof s['user'] === 'string' ? s['user'] : undefined);
      const [a, b] = await apps({ owner });
      const [phone, laptop, other] = [new Browser(a.url), new Browser(b.url), new Browser(a.url)];
      await phone.request('POST', '/login', { user: 'ada' });
      await laptop.request('POST', '/login', { user: 'ada' });
      await other.request('POST', '/login', { user: 'bob' });
      expect((await replicas.a.get(phone.cookie(COOKIE)!))!.owner).toBe('ada');
      expect(await replicas.b.destroyByOwner('ada')).toBe(2);
      expect([(await phone.request('GET', '/peek')).json.user, (await laptop.request('GET', '/peek')).json.user]).toEqual([null, null]);
      expect((await other.clone(b.url).request('GET', '/peek')).json.user).toBe('bob');
    });

    it("a 'conflict' listener that throws fails that request (500); the winner's data stays whole", async () => {
      const gates = new Gates();
      const [a, b] = await apps({}, { gates });
      const b2 = new StowageKoaSessionStore({ store: replicas.b });
      b2.on('conflict', () => {
        throw new Error('listener bug');
      });
      const throwing = await koaApp(b2, { gates });
      opened.push(throwing);
      const browser = new Browser(a.url);
      await browser.request('POST', '/login', { user: 'ada' });
      const x = browser.request('POST', '/put?gate=x', { fields: { x: 1 } });
      const y = browser.clone(throwing.url).request('POST', '/put?gate=y', { fields: { y: 1 } });
      await Promise.all([gates.arrival('x'), gates.arrival('y')]);
      gates.open('x');
      expect((await x).status).toBe(200);
      gates.open('y');
      expect((await y).status).toBe(500);
      expect(throwing.errors).toEqual(['Error']);
      expect((await browser.clone(b.url).request('GET', '/state')).json.data).toEqual({ user: 'ada', x: 1 });
    });
  });
});
