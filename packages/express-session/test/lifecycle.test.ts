import { setTimeout as sleep } from 'node:timers/promises';
import { MemorySessionStore } from '@stowage/stores-memory';
import { afterAll, describe, expect, it } from 'vitest';
import { StowageSessionStore } from '../src/index.js';
import { expressApp } from './apps.js';
import { Gates } from '@stowage/test-stores';
import { Browser, sessionIdOf } from './http.js';
import { expressRaceApp, fastifyRaceApp } from './race-apps.js';
import { recording, writesOf } from './recording-store.js';

// What the README says happens on a hang-up and at expiry, checked.

const FRAMEWORKS = [
  { name: 'express-session', app: expressRaceApp, cookie: 'connect.sid' },
  { name: '@fastify/session', app: fastifyRaceApp, cookie: 'sessionId' },
] as const;

describe('a client that hangs up mid-request', () => {
  const inner = new MemorySessionStore();
  afterAll(() => inner.close());

  for (const fw of FRAMEWORKS) {
    it(`${fw.name}: the handler still ends the response, and its change is saved then`, async () => {
      const rec = recording(inner);
      const gates = new Gates();
      const app = await fw.app(new StowageSessionStore({ store: rec.store }), gates);
      try {
        const browser = new Browser(app.url);
        await browser.request('POST', '/login', { user: 'ada' });
        const sid = sessionIdOf(browser.cookie(fw.cookie))!;
        const version = (await inner.get(sid))!.version;
        const hangUp = new AbortController();
        const request = fetch(`${app.url}/put?gate=h`, {
          method: 'POST',
          headers: { cookie: `${fw.cookie}=${browser.cookie(fw.cookie)}`, 'content-type': 'application/json' },
          body: JSON.stringify({ fields: { cart: ['book'] } }),
          signal: hangUp.signal,
        }).catch((err: Error) => err.name);
        await gates.arrival('h');
        hangUp.abort();
        expect(await request).toBe('AbortError');
        await sleep(50); // the server sees the connection close
        gates.open('h');
        for (let i = 0; i < 200 && writesOf(rec.calls, sid).length < version + 1; i++) await sleep(10);
        const record = (await inner.get(sid))!;
        expect(record.version).toBe(version + 1);
        expect(JSON.parse(Buffer.from(record.data).toString())).toMatchObject({ user: 'ada', cart: ['book'] });
      } finally {
        await app.close();
      }
    });
  }
});

describe('what expires when', () => {
  it('express-session, not rolling: each request moves the stored expiry, while the browser keeps its first cookie', async () => {
    const inner = new MemorySessionStore();
    const app = await expressApp(new StowageSessionStore({ store: inner }), 60_000, false);
    try {
      const browser = new Browser(app.url);
      await browser.request('POST', '/login', { user: 'ada' });
      const sid = sessionIdOf(browser.cookie('connect.sid'))!;
      const { expiresAt: first, version } = (await inner.get(sid))!;
      await sleep(300);
      const peek = await browser.request('GET', '/peek'); // unmodified: express-session touches
      expect(peek.json.user).toBe('ada');
      expect(peek.setCookie).toEqual([]); // the browser's cookie keeps its first expiry
      const moved = (await inner.get(sid))!;
      expect(moved.expiresAt - first).toBeGreaterThanOrEqual(250);
      expect(moved.version).toBe(version); // a touch: the data was not rewritten
    } finally {
      await app.close();
      await inner.close();
    }
  });

  it('absoluteTtlMs is the one limit no request extends', async () => {
    const inner = new MemorySessionStore();
    // 3 s: the three requests below, each a write that would move the expiry, fit in it with
    // seconds to spare on a loaded machine.
    const app = await expressApp(new StowageSessionStore({ store: inner, absoluteTtlMs: 3000 }), 60_000, true);
    try {
      const browser = new Browser(app.url);
      await browser.request('POST', '/login', { user: 'ada' });
      const sid = sessionIdOf(browser.cookie('connect.sid'))!;
      const { absoluteExpiresAt } = (await inner.get(sid))!;
      for (let i = 0; i < 3; i++) {
        await sleep(100);
        expect((await browser.request('GET', '/me')).json.user).toBe('ada'); // modifies: a write
      }
      expect((await inner.get(sid))!.expiresAt).toBeLessThanOrEqual(absoluteExpiresAt!);
      await sleep(Math.max(0, absoluteExpiresAt! - Date.now()) + 50);
      expect((await browser.request('GET', '/me')).json.user).toBeNull();
      expect(await inner.get(sid)).toBeUndefined();
    } finally {
      await app.close();
      await inner.close();
    }
  });
});
