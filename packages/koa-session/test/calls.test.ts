import { jsonCodec, MAX_DURATION_MS, StowageError, type Codec } from '@stowage/core';
import { MemorySessionStore } from '@stowage/stores-memory';
import { afterEach, describe, expect, it } from 'vitest';
import { StowageKoaSessionStore, type KoaSessionConflict } from '../src/index.js';
import { koaApp } from './app.js';
import { Browser } from '@stowage/test-stores';
import { callsOf, recording } from './recording.js';

// The adapter's calls as koa-session makes them, on a memory store (what is checked here does
// not depend on the backend): deadlines, TTLs, records that do not decode, options.

let inner: MemorySessionStore;
afterEach(async () => {
  await inner?.close();
});
const fresh = () => (inner = new MemorySessionStore());

describe('one deadline on every store call', () => {
  it('each get, set, touch and destroy carries Date.now() + timeoutMs', async () => {
    const rec = recording(fresh());
    const app = await koaApp(new StowageKoaSessionStore({ store: rec.store, timeoutMs: 750 }), { rolling: true });
    try {
      const browser = new Browser(app.url);
      await browser.request('POST', '/login', { user: 'ada' });
      await browser.request('GET', '/peek');
      await browser.request('POST', '/put', { fields: { a: 1 } });
      await browser.request('POST', '/logout');
    } finally {
      await app.close();
    }
    expect(rec.calls.map((c) => c.method)).toEqual(['set', 'get', 'touch', 'get', 'set', 'get', 'destroy']);
    for (const c of rec.calls) {
      expect(Number.isInteger(c.opts?.['deadline'])).toBe(true);
      expect(c.opts!['deadline'] - c.at).toBeGreaterThan(650);
      expect(c.opts!['deadline'] - c.at).toBeLessThanOrEqual(750);
    }
  });
});

describe('session data JSON cannot encode (a circular object)', () => {
  for (const save of [false, true]) {
    it(`${save ? 'with' : 'without'} an explicit save: 500, nothing stored, the session intact`, async () => {
      const rec = recording(fresh());
      const app = await koaApp(new StowageKoaSessionStore({ store: rec.store }));
      try {
        const browser = new Browser(app.url);
        await browser.request('POST', '/login', { user: 'ada' });
        const sets = callsOf(rec.calls, 'set').length;
        expect((await browser.request('POST', `/circular?save=${save ? 1 : 0}`)).status).toBe(500);
        expect(app.errors).toEqual(['TypeError']);
        expect(callsOf(rec.calls, 'set').map((c) => c.outcome)).toEqual(Array(sets).fill('ok'));
        expect((await browser.request('GET', '/state')).json).toEqual({ isNew: false, data: { user: 'ada' } });
      } finally {
        await app.close();
      }
    });
  }
});

describe('called directly, as koa-session calls it', () => {
  const ctx = () => ({});
  const session = (fields: Record<string, unknown> = {}) => ({ ...fields, _expire: Date.now() + 60_000, _maxAge: 60_000 });

  it("maxAge: koa-session's number as the TTL (ceiled, capped), 'session' as defaultTtlMs, 0 or less destroys", async () => {
    const rec = recording(fresh());
    const store = new StowageKoaSessionStore({ store: rec.store, defaultTtlMs: 5000 });
    await store.set('a', session(), 70_000.2, { ctx: ctx() });
    await store.set('b', session(), 'session', { ctx: ctx() });
    await store.set('c', session(), Number.POSITIVE_INFINITY, { ctx: ctx() });
    await store.set('d', session(), Number.NaN, { ctx: ctx() });
    expect(callsOf(rec.calls, 'set').map((c) => [c.id, c.opts!['ttlMs']])).toEqual([
      ['a', 70_001],
      ['b', 5000],
      ['c', MAX_DURATION_MS],
      ['d', 5000],
    ]);
    await store.set('a', session(), -1, { ctx: ctx() });
    expect(callsOf(rec.calls, 'destroy').map((c) => c.id)).toEqual(['a']);
    expect(await inner.get('a')).toBeUndefined();
  });

  it('without a ctx, nothing ties a save to a read: it is written only as a new session', async () => {
    const store = new StowageKoaSessionStore({ store: fresh() });
    const conflicts: KoaSessionConflict[] = [];
    store.on('conflict', (c: KoaSessionConflict) => conflicts.push(c));
    await store.set('k', session({ n: 1 }), 60_000);
    expect(await store.get('k')).toMatchObject({ n: 1 });
    await store.set('k', session({ n: 2 }), 60_000);
    expect(conflicts).toEqual([{ key: 'k', ifVersion: 0, currentVersion: 1 }]);
    expect(await store.get('k')).toMatchObject({ n: 1 });
  });

  it('a refresh of a destroyed session recreates nothing, and a change after it in the same request is dropped', async () => {
    const store = new StowageKoaSessionStore({ store: fresh() });
    const conflicts: KoaSessionConflict[] = [];
    store.on('conflict', (c: KoaSessionConflict) => conflicts.push(c));
    await store.set('k', session({ n: 1 }), 60_000, { ctx: ctx() });
    const c = ctx();
    const read = (await store.get('k', 60_000, { ctx: c }))!;
    await store.destroy('k', { ctx: ctx() }); // another request logs out
    await store.set('k', { ...read, _expire: Date.now() + 60_000 }, 60_000, { ctx: c }); // rolling: a touch, answered false
    await store.set('k', { ...read, n: 2 }, 60_000, { ctx: c }); // then a change
    expect(await inner.get('k')).toBeUndefined();
    expect(conflicts).toEqual([{ key: 'k', ifVersion: 1, currentVersion: 0 }]);
  });

  it("get moves _expire to the record's idle expiry less 10 s, never earlier than stored", async () => {
    const store = new StowageKoaSessionStore({ store: fresh() });
    const stale = Date.now() + 1000;
    await store.set('k', { n: 1, _expire: stale, _maxAge: 1000 }, 11_000, { ctx: ctx() });
    const c = ctx();
    await store.get('k', 1000, { ctx: c });
    await inner.touch('k', 60_000);
    const read = await store.get('k', 1000, { ctx: c });
    const record = (await inner.get('k'))!;
    expect(read!._expire).toBe(record.expiresAt - 10_000);
    expect(read!._expire).toBeGreaterThan(stale + 40_000);
    await store.set('late', { _expire: Date.now() + 600_000, _maxAge: 1000 }, 11_000);
    expect((await store.get('late'))!._expire).toBeGreaterThan(Date.now() + 500_000);
  });

  it('a record that no longer decodes (CORRUPT), or is not an object, is no session; other codec errors fail the call', async () => {
    const fail = (err: Error): Codec => ({
      encode: jsonCodec.encode,
      decode: () => {
        throw err;
      },
    });
    await fresh().set('k', Buffer.from('{"n":1}'), { ttlMs: 60_000 });
    await inner.set('list', Buffer.from('[1,2]'), { ttlMs: 60_000 });
    expect(await new StowageKoaSessionStore({ store: inner }).get('list')).toBeUndefined();
    const corrupt = new StowageKoaSessionStore({ store: inner, codec: fail(new StowageError('CORRUPT', 'bad')) });
    expect(await corrupt.get('k')).toBeUndefined();
    const broken = new StowageKoaSessionStore({ store: inner, codec: fail(new TypeError('codec bug')) });
    await expect(broken.get('k')).rejects.toThrow('codec bug');
  });

  it("data the codec refuses (a circular object): the save rejects with jsonCodec's INVALID_ARGUMENT, nothing is stored", async () => {
    const store = new StowageKoaSessionStore({ store: fresh() });
    const loop: Record<string, unknown> = { user: 'ada' };
    loop['self'] = loop;
    const err = await store.set('k', loop, 60_000, { ctx: ctx() }).catch((e: unknown) => e);
    expect(StowageError.is(err, 'INVALID_ARGUMENT')).toBe(true);
    expect((err as StowageError).cause).toBeInstanceOf(TypeError);
    expect(await inner.get('k')).toBeUndefined();
  });

  it('rejects bad options with INVALID_ARGUMENT', () => {
    const store = fresh();
    const bad = [
      undefined,
      {},
      { store: {} },
      { store, timeoutMs: 0 },
      { store, timeoutMs: 1.5 },
      { store, defaultTtlMs: -1 },
      { store, absoluteTtlMs: 0 },
      { store, codec: {} },
      { store, owner: 'ada' },
    ];
    for (const options of bad) {
      expect(() => new StowageKoaSessionStore(options as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    }
  });
});
