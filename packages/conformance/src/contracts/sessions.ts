import type { SessionStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { limitsOf, opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import {
  ALL_BYTES,
  BAD_BYTES,
  BAD_DURATIONS,
  BAD_KEYS,
  bytes,
  expectCode,
  fulfilled,
  ODD_KEYS,
  race,
  rejectedCodes,
  sleep,
  text,
} from '../helpers.js';

const MIN = 60_000;

export function sessionTests(factory: StoreFactory<SessionStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  const limits = limitsOf(options);

  describe('set and get', () => {
    it('get of an unknown id is undefined', async () => {
      const { store } = await open();
      expect(await store.get('nobody')).toBeUndefined();
    });

    it('set inserts version 1 with expiresAt = now + ttlMs', async () => {
      const { store, clock } = await open();
      expect(await store.set('s1', bytes('hello'), { ttlMs: MIN })).toEqual({ version: 1 });
      const got = await store.get('s1');
      expect(got).toBeDefined();
      expect(text(got!.data)).toBe('hello');
      expect(got!.version).toBe(1);
      expect(got!.expiresAt).toBe(clock.now() + MIN);
      expect(got!.absoluteExpiresAt).toBeUndefined();
      expect(got!.owner).toBeUndefined();
    });

    it('each set replaces the data and adds 1 to the version', async () => {
      const { store, clock } = await open();
      for (let v = 1; v <= 10; v++) {
        clock.advance(10);
        expect(await store.set('s', bytes(`v${v}`), { ttlMs: MIN })).toEqual({ version: v });
      }
      const got = await store.get('s');
      expect(text(got!.data)).toBe('v10');
      expect(got!.version).toBe(10);
      expect(got!.expiresAt).toBe(clock.now() + MIN);
    });

    it('round-trips all 256 byte values', async () => {
      const { store } = await open();
      await store.set('bin', ALL_BYTES, { ttlMs: MIN });
      expect(Array.from((await store.get('bin'))!.data)).toEqual(Array.from(ALL_BYTES));
    });

    it('round-trips empty data', async () => {
      const { store } = await open();
      await store.set('empty', new Uint8Array(0), { ttlMs: MIN });
      const got = await store.get('empty');
      expect(got?.data.byteLength).toBe(0);
      expect(got?.version).toBe(1);
    });

    it('accepts a Buffer and returns a Uint8Array', async () => {
      const { store } = await open();
      await store.set('buf', Buffer.from('buffer'), { ttlMs: MIN });
      const got = await store.get('buf');
      expect(got!.data).toBeInstanceOf(Uint8Array);
      expect(text(got!.data)).toBe('buffer');
    });

    it('keeps its own copy: mutating the input or the output does not change the stored data', async () => {
      const { store } = await open();
      const input = bytes('original');
      await store.set('copy', input, { ttlMs: MIN });
      input.fill(0);
      const first = await store.get('copy');
      first!.data.fill(0);
      expect(text((await store.get('copy'))!.data)).toBe('original');
    });

    it(`accepts data of exactly the limit (${limits.sessionDataBytes} bytes)`, async () => {
      const { store } = await open();
      const data = new Uint8Array(limits.sessionDataBytes).fill(0xab);
      await store.set('big', data, { ttlMs: MIN });
      const got = await store.get('big');
      expect(got!.data.byteLength).toBe(limits.sessionDataBytes);
      expect(got!.data[limits.sessionDataBytes - 1]).toBe(0xab);
    });

    it('data over the limit is PAYLOAD_TOO_LARGE and changes nothing', async () => {
      const { store } = await open();
      await store.set('big', bytes('small'), { ttlMs: MIN });
      await expectCode(store.set('big', new Uint8Array(limits.sessionDataBytes + 1), { ttlMs: MIN }), 'PAYLOAD_TOO_LARGE');
      const got = await store.get('big');
      expect(text(got!.data)).toBe('small');
      expect(got!.version).toBe(1);
    });

    it('odd ids round-trip exactly and never collide', async () => {
      const { store } = await open();
      for (const [i, id] of ODD_KEYS.entries()) await store.set(id, bytes(`#${i}`), { ttlMs: MIN });
      for (const [i, id] of ODD_KEYS.entries()) {
        const got = await store.get(id);
        expect(got && text(got.data), `id ${JSON.stringify(id.slice(0, 30))}`).toBe(`#${i}`);
      }
    });

    it('an id and its prefix or extension are different sessions', async () => {
      const { store } = await open();
      await store.set('abc', bytes('1'), { ttlMs: MIN });
      expect(await store.get('ab')).toBeUndefined();
      expect(await store.get('abcd')).toBeUndefined();
      expect(await store.get('ABC')).toBeUndefined();
    });
  });

  describe('compare-and-swap (ifVersion)', () => {
    it('ifVersion 0 inserts when the id is missing', async () => {
      const { store } = await open();
      expect(await store.set('cas', bytes('a'), { ttlMs: MIN, ifVersion: 0 })).toEqual({ version: 1 });
    });

    it('ifVersion 0 on an existing id is CONFLICT and changes nothing', async () => {
      const { store } = await open();
      await store.set('cas', bytes('a'), { ttlMs: MIN });
      const err = await expectCode(store.set('cas', bytes('b'), { ttlMs: MIN, ifVersion: 0 }), 'CONFLICT');
      expect(err.details?.currentVersion).toBe(1);
      const got = await store.get('cas');
      expect(text(got!.data)).toBe('a');
      expect(got!.version).toBe(1);
    });

    it('a matching ifVersion writes and increments', async () => {
      const { store } = await open();
      await store.set('cas', bytes('a'), { ttlMs: MIN });
      expect(await store.set('cas', bytes('b'), { ttlMs: MIN, ifVersion: 1 })).toEqual({ version: 2 });
      expect(await store.set('cas', bytes('c'), { ttlMs: MIN, ifVersion: 2 })).toEqual({ version: 3 });
    });

    it('a stale ifVersion is CONFLICT and changes nothing (data, version, expiry)', async () => {
      const { store, clock } = await open();
      await store.set('cas', bytes('a'), { ttlMs: MIN });
      await store.set('cas', bytes('b'), { ttlMs: MIN });
      const before = await store.get('cas');
      clock.advance(1000);
      const err = await expectCode(store.set('cas', bytes('c'), { ttlMs: 5 * MIN, ifVersion: 1 }), 'CONFLICT');
      expect(err.details?.currentVersion).toBe(2);
      expect(await store.get('cas')).toEqual(before);
    });

    it('ifVersion > 0 on a missing id is CONFLICT and creates nothing', async () => {
      const { store } = await open();
      const err = await expectCode(store.set('cas', bytes('a'), { ttlMs: MIN, ifVersion: 3 }), 'CONFLICT');
      expect(err.details?.currentVersion).toBe(0);
      expect(await store.get('cas')).toBeUndefined();
    });

    it('ifVersion 0 succeeds on an expired session (expired counts as missing)', async () => {
      const { store, clock } = await open();
      await store.set('cas', bytes('old'), { ttlMs: 1000 });
      clock.advance(1000);
      expect(await store.set('cas', bytes('new'), { ttlMs: MIN, ifVersion: 0 })).toEqual({ version: 1 });
      expect(text((await store.get('cas'))!.data)).toBe('new');
    });

    it('100 parallel sets with the same ifVersion: exactly one succeeds', async () => {
      const { store } = await open();
      await store.set('race', bytes('start'), { ttlMs: MIN });
      const results = await race(100, (i) => store.set('race', bytes(`writer-${i}`), { ttlMs: MIN, ifVersion: 1 }));
      const won = fulfilled(results);
      expect(won).toEqual([{ version: 2 }]);
      expect(rejectedCodes(results)).toEqual(Array(99).fill('CONFLICT'));
      const winner = results.findIndex((r) => r.status === 'fulfilled');
      const got = await store.get('race');
      expect(got!.version).toBe(2);
      expect(text(got!.data)).toBe(`writer-${winner}`);
    });

    it('100 parallel inserts with ifVersion 0: exactly one creates the session', async () => {
      const { store } = await open();
      const results = await race(100, (i) => store.set('fresh', bytes(`w${i}`), { ttlMs: MIN, ifVersion: 0 }));
      expect(fulfilled(results)).toEqual([{ version: 1 }]);
      expect(rejectedCodes(results).every((c) => c === 'CONFLICT')).toBe(true);
    });

    it('100 parallel unconditional sets: versions 2..101 are each given exactly once', async () => {
      const { store } = await open();
      await store.set('seq', bytes('0'), { ttlMs: MIN });
      const results = fulfilled(await race(100, (i) => store.set('seq', bytes(String(i)), { ttlMs: MIN })));
      expect(results.map((r) => r.version).sort((a, b) => a - b)).toEqual(Array.from({ length: 100 }, (_, i) => i + 2));
      expect((await store.get('seq'))!.version).toBe(101);
    });
  });

  describe('idle and absolute expiry', () => {
    it('a session is visible 1 ms before expiresAt and invisible at expiresAt', async () => {
      const { store, clock } = await open();
      await store.set('e', bytes('x'), { ttlMs: 5000 });
      clock.advance(4999);
      expect(await store.get('e')).toBeDefined();
      clock.advance(1);
      expect(await store.get('e')).toBeUndefined();
      expect(await store.touch('e', MIN)).toBe(false);
      expect(await store.destroy('e')).toBe(false);
    });

    it('a set after expiry is an insert: version 1, owner and absolute expiry start over', async () => {
      const { store, clock } = await open();
      await store.set('e', bytes('x'), { ttlMs: 1000, absoluteTtlMs: 2000, owner: 'alice' });
      await store.set('e', bytes('y'), { ttlMs: 1000 });
      clock.advance(1000);
      expect(await store.set('e', bytes('z'), { ttlMs: MIN })).toEqual({ version: 1 });
      const got = await store.get('e');
      expect(got!.owner).toBeUndefined();
      expect(got!.absoluteExpiresAt).toBeUndefined();
    });

    it('touch moves expiresAt to now + ttlMs and keeps data and version', async () => {
      const { store, clock } = await open();
      await store.set('t', bytes('keep'), { ttlMs: 1000 });
      await store.set('t', bytes('keep2'), { ttlMs: 1000 });
      clock.advance(900);
      expect(await store.touch('t', 1000)).toBe(true);
      clock.advance(900);
      const got = await store.get('t');
      expect(got).toMatchObject({ version: 2, expiresAt: clock.now() + 100 });
      expect(text(got!.data)).toBe('keep2');
    });

    it('touch can shorten the idle expiry too', async () => {
      const { store, clock } = await open();
      await store.set('t', bytes('x'), { ttlMs: MIN });
      expect(await store.touch('t', 10)).toBe(true);
      clock.advance(10);
      expect(await store.get('t')).toBeUndefined();
    });

    it('touch of a missing session is false and creates nothing', async () => {
      const { store } = await open();
      expect(await store.touch('ghost', MIN)).toBe(false);
      expect(await store.get('ghost')).toBeUndefined();
    });

    it('absoluteTtlMs fixes absoluteExpiresAt and caps the idle expiry', async () => {
      const { store, clock } = await open();
      const t0 = clock.now();
      await store.set('a', bytes('x'), { ttlMs: 10 * MIN, absoluteTtlMs: 5000 });
      const got = await store.get('a');
      expect(got!.absoluteExpiresAt).toBe(t0 + 5000);
      expect(got!.expiresAt).toBe(t0 + 5000);
    });

    it('neither set nor touch moves the absolute expiry; the session ends there', async () => {
      const { store, clock } = await open();
      const t0 = clock.now();
      await store.set('a', bytes('x'), { ttlMs: 1000, absoluteTtlMs: 3000 });
      clock.advance(900);
      expect(await store.touch('a', 1000)).toBe(true);
      clock.advance(900);
      await store.set('a', bytes('y'), { ttlMs: 1000, absoluteTtlMs: 60_000 });
      clock.advance(900);
      expect(await store.touch('a', 10 * MIN)).toBe(true);
      const got = await store.get('a');
      expect(got!.absoluteExpiresAt).toBe(t0 + 3000);
      expect(got!.expiresAt).toBe(t0 + 3000);
      clock.set(t0 + 2999);
      expect(await store.get('a')).toBeDefined();
      clock.set(t0 + 3000);
      expect(await store.get('a')).toBeUndefined();
      expect(await store.touch('a', MIN)).toBe(false);
    });

    it('set on an existing session caps its new idle expiry by the absolute one', async () => {
      const { store, clock } = await open();
      const t0 = clock.now();
      await store.set('a', bytes('x'), { ttlMs: 5000, absoluteTtlMs: 4000 });
      clock.advance(3500);
      await store.set('a', bytes('y'), { ttlMs: MIN });
      expect((await store.get('a'))!.expiresAt).toBe(t0 + 4000);
    });

    it('expires in real time too (short TTL, the store on its own clock)', async () => {
      const { store } = await open('real-time');
      await store.set('rt', bytes('x'), { ttlMs: 1500 });
      await store.set('rt-touched', bytes('x'), { ttlMs: 1500 });
      expect(await store.get('rt')).toBeDefined();
      await sleep(700);
      expect(await store.touch('rt-touched', 10_000)).toBe(true);
      await sleep(1300);
      expect(await store.get('rt')).toBeUndefined();
      expect(await store.get('rt-touched')).toBeDefined();
    });

    it('real-time expiresAt is close to the wall clock', async () => {
      const { store } = await open('real-time');
      const before = Date.now();
      await store.set('rt', bytes('x'), { ttlMs: MIN });
      const got = await store.get('rt');
      // The backend's clock may differ from this process's by a little.
      expect(Math.abs(got!.expiresAt - (before + MIN))).toBeLessThan(5000);
    });
  });

  describe('owners and destroyByOwner', () => {
    it('records the owner, keeps it when a set omits it, replaces it when a set names another', async () => {
      const { store } = await open();
      await store.set('o', bytes('x'), { ttlMs: MIN, owner: 'alice' });
      expect((await store.get('o'))!.owner).toBe('alice');
      await store.set('o', bytes('y'), { ttlMs: MIN });
      expect((await store.get('o'))!.owner).toBe('alice');
      await store.set('o', bytes('z'), { ttlMs: MIN, owner: 'bob' });
      expect((await store.get('o'))!.owner).toBe('bob');
      expect(await store.destroyByOwner('alice')).toBe(0);
      expect(await store.get('o')).toBeDefined();
      expect(await store.destroyByOwner('bob')).toBe(1);
      expect(await store.get('o')).toBeUndefined();
    });

    it('removes every live session of the owner and no other', async () => {
      const { store } = await open();
      for (let i = 0; i < 5; i++) await store.set(`alice-${i}`, bytes('a'), { ttlMs: MIN, owner: 'alice' });
      for (let i = 0; i < 3; i++) await store.set(`bob-${i}`, bytes('b'), { ttlMs: MIN, owner: 'bob' });
      await store.set('anon', bytes('c'), { ttlMs: MIN });
      expect(await store.destroyByOwner('alice')).toBe(5);
      for (let i = 0; i < 5; i++) expect(await store.get(`alice-${i}`)).toBeUndefined();
      for (let i = 0; i < 3; i++) expect(await store.get(`bob-${i}`)).toBeDefined();
      expect(await store.get('anon')).toBeDefined();
      expect(await store.destroyByOwner('alice')).toBe(0);
    });

    it('keeps the session named in except', async () => {
      const { store } = await open();
      for (const id of ['s1', 's2', 'current']) await store.set(id, bytes('x'), { ttlMs: MIN, owner: 'carol' });
      expect(await store.destroyByOwner('carol', { except: 'current' })).toBe(2);
      expect(await store.get('current')).toBeDefined();
      expect(await store.get('s1')).toBeUndefined();
    });

    it('does not count expired sessions', async () => {
      const { store, clock } = await open();
      await store.set('short', bytes('x'), { ttlMs: 1000, owner: 'dave' });
      await store.set('long', bytes('x'), { ttlMs: MIN, owner: 'dave' });
      clock.advance(1000);
      expect(await store.destroyByOwner('dave')).toBe(1);
    });

    it('is 0 for an unknown owner', async () => {
      const { store } = await open();
      expect(await store.destroyByOwner('nobody')).toBe(0);
    });

    it('owners with odd characters never collide', async () => {
      const { store } = await open();
      for (const [i, owner] of ODD_KEYS.entries()) await store.set(`sid-${i}`, bytes('x'), { ttlMs: MIN, owner });
      for (const [i, owner] of ODD_KEYS.entries()) {
        expect(await store.destroyByOwner(owner), `owner ${JSON.stringify(owner.slice(0, 20))}`).toBe(1);
        expect(await store.get(`sid-${i}`)).toBeUndefined();
        if (i + 1 < ODD_KEYS.length) expect(await store.get(`sid-${i + 1}`)).toBeDefined();
      }
    });

    it('finds a session under its new id after rotate, not under the old one', async () => {
      const { store } = await open();
      await store.set('before', bytes('x'), { ttlMs: MIN, owner: 'erin' });
      await store.rotate('before', 'after');
      await store.set('before', bytes('unrelated'), { ttlMs: MIN, owner: 'frank' });
      expect(await store.destroyByOwner('erin')).toBe(1);
      expect(await store.get('after')).toBeUndefined();
      expect(await store.get('before')).toBeDefined();
    });

    it('a session re-created without an owner is not destroyed by its former owner', async () => {
      const { store } = await open();
      await store.set('x', bytes('1'), { ttlMs: MIN, owner: 'gina' });
      await store.destroy('x');
      await store.set('x', bytes('2'), { ttlMs: MIN });
      expect(await store.destroyByOwner('gina')).toBe(0);
      expect(await store.get('x')).toBeDefined();
    });

    it('sign-out everywhere races with logins: every session that existed before is gone', async () => {
      const { store } = await open();
      for (let i = 0; i < 30; i++) await store.set(`old-${i}`, bytes('x'), { ttlMs: MIN, owner: 'hank' });
      const [count] = await Promise.all([
        store.destroyByOwner('hank'),
        ...Array.from({ length: 10 }, (_, i) => store.set(`new-${i}`, bytes('y'), { ttlMs: MIN, owner: 'hank' })),
      ]);
      for (let i = 0; i < 30; i++) expect(await store.get(`old-${i}`)).toBeUndefined();
      let survivors = 0;
      for (let i = 0; i < 10; i++) if (await store.get(`new-${i}`)) survivors++;
      expect(count).toBe(30 + 10 - survivors);
    });
  });

  describe('destroy', () => {
    it('removes a live session once', async () => {
      const { store } = await open();
      await store.set('d', bytes('x'), { ttlMs: MIN });
      expect(await store.destroy('d')).toBe(true);
      expect(await store.get('d')).toBeUndefined();
      expect(await store.destroy('d')).toBe(false);
    });

    it('of 50 parallel destroys of one session, exactly one is true', async () => {
      const { store } = await open();
      await store.set('d', bytes('x'), { ttlMs: MIN });
      const results = fulfilled(await race(50, () => store.destroy('d')));
      expect(results.filter(Boolean)).toHaveLength(1);
    });
  });

  describe('rotate', () => {
    it('moves data, version, owner and absolute expiry to the new id; the old id is gone', async () => {
      const { store, clock } = await open();
      const t0 = clock.now();
      await store.set('old', bytes('payload'), { ttlMs: 5000, absoluteTtlMs: MIN, owner: 'ivy' });
      await store.set('old', bytes('payload2'), { ttlMs: 5000 });
      clock.advance(100);
      expect(await store.rotate('old', 'new')).toBe(true);
      expect(await store.get('old')).toBeUndefined();
      const got = await store.get('new');
      expect(text(got!.data)).toBe('payload2');
      expect(got).toMatchObject({ version: 2, owner: 'ivy', absoluteExpiresAt: t0 + MIN, expiresAt: t0 + 5000 });
    });

    it('with ttlMs, the idle expiry restarts from now (capped by the absolute one)', async () => {
      const { store, clock } = await open();
      const t0 = clock.now();
      await store.set('old', bytes('x'), { ttlMs: 5000, absoluteTtlMs: 20_000 });
      clock.advance(1000);
      await store.rotate('old', 'new', { ttlMs: 8000 });
      expect((await store.get('new'))!.expiresAt).toBe(t0 + 9000);
      await store.rotate('new', 'newer', { ttlMs: MIN });
      expect((await store.get('newer'))!.expiresAt).toBe(t0 + 20_000);
    });

    it('is false for a missing or expired old id', async () => {
      const { store, clock } = await open();
      expect(await store.rotate('ghost', 'new')).toBe(false);
      await store.set('old', bytes('x'), { ttlMs: 1000 });
      clock.advance(1000);
      expect(await store.rotate('old', 'new')).toBe(false);
      expect(await store.get('new')).toBeUndefined();
    });

    it('is CONFLICT when the new id holds a live session, and changes neither', async () => {
      const { store } = await open();
      await store.set('a', bytes('A'), { ttlMs: MIN });
      await store.set('b', bytes('B'), { ttlMs: MIN });
      await expectCode(store.rotate('a', 'b'), 'CONFLICT');
      expect(text((await store.get('a'))!.data)).toBe('A');
      expect(text((await store.get('b'))!.data)).toBe('B');
    });

    it('may take a new id whose session has expired', async () => {
      const { store, clock } = await open();
      await store.set('stale', bytes('S'), { ttlMs: 1000 });
      clock.advance(1000);
      await store.set('a', bytes('A'), { ttlMs: MIN });
      expect(await store.rotate('a', 'stale')).toBe(true);
      expect(text((await store.get('stale'))!.data)).toBe('A');
    });

    it('to the same id is INVALID_ARGUMENT', async () => {
      const { store } = await open();
      await store.set('same', bytes('x'), { ttlMs: MIN });
      await expectCode(store.rotate('same', 'same'), 'INVALID_ARGUMENT');
      expect(await store.get('same')).toBeDefined();
    });

    it('of 50 parallel rotates of one id to different ids, exactly one wins', async () => {
      const { store } = await open();
      await store.set('src', bytes('x'), { ttlMs: MIN });
      const results = fulfilled(await race(50, (i) => store.rotate('src', `dst-${i}`)));
      expect(results.filter(Boolean)).toHaveLength(1);
      const winner = results.indexOf(true);
      let present = 0;
      for (let i = 0; i < 50; i++) if (await store.get(`dst-${i}`)) present++;
      expect(present).toBe(1);
      expect(await store.get(`dst-${winner}`)).toBeDefined();
      expect(await store.get('src')).toBeUndefined();
    });

    it('of 50 parallel rotates of different ids to one id, exactly one wins', async () => {
      const { store } = await open();
      for (let i = 0; i < 50; i++) await store.set(`src-${i}`, bytes(String(i)), { ttlMs: MIN });
      const results = await race(50, (i) => store.rotate(`src-${i}`, 'dst'));
      expect(fulfilled(results).filter(Boolean)).toHaveLength(1);
      expect(rejectedCodes(results)).toEqual(Array(49).fill('CONFLICT'));
    });
  });

  describe('prune', () => {
    it(options.nativeExpiry ? 'leaves no expired session visible' : 'deletes exactly the expired sessions and returns their count', async () => {
      const { store, clock } = await open();
      for (let i = 0; i < 7; i++) await store.set(`short-${i}`, bytes('x'), { ttlMs: 1000, owner: 'pruned' });
      for (let i = 0; i < 3; i++) await store.set(`long-${i}`, bytes('x'), { ttlMs: MIN });
      clock.advance(1000);
      const removed = await store.prune();
      if (options.nativeExpiry) expect(removed).toBeGreaterThanOrEqual(0);
      else {
        expect(removed).toBe(7);
        expect(await store.prune()).toBe(0);
      }
      for (let i = 0; i < 3; i++) expect(await store.get(`long-${i}`)).toBeDefined();
      expect(await store.destroyByOwner('pruned')).toBe(0);
    });

    it('is 0 on an empty store', async () => {
      const { store } = await open();
      expect(await store.prune()).toBe(0);
    });
  });

  describe('bad input is INVALID_ARGUMENT and changes nothing', () => {
    for (const [label, id] of BAD_KEYS) {
      it(`id as ${label}`, async () => {
        const { store } = await open();
        await store.set('ok', bytes('x'), { ttlMs: MIN, owner: 'ok' });
        await expectCode(store.get(id as string), 'INVALID_ARGUMENT');
        await expectCode(store.set(id as string, bytes('y'), { ttlMs: MIN }), 'INVALID_ARGUMENT');
        await expectCode(store.touch(id as string, MIN), 'INVALID_ARGUMENT');
        await expectCode(store.destroy(id as string), 'INVALID_ARGUMENT');
        await expectCode(store.rotate(id as string, 'new'), 'INVALID_ARGUMENT');
        await expectCode(store.rotate('ok', id as string), 'INVALID_ARGUMENT');
        await expectCode(store.destroyByOwner(id as string), 'INVALID_ARGUMENT');
        if (id !== undefined) {
          // An undefined optional field means "not given", so only other values are bad here.
          await expectCode(store.destroyByOwner('ok', { except: id as string }), 'INVALID_ARGUMENT');
          await expectCode(store.set('ok', bytes('y'), { ttlMs: MIN, owner: id as string }), 'INVALID_ARGUMENT');
        }
        expect(await store.get('ok')).toMatchObject({ version: 1, owner: 'ok' });
      });
    }

    for (const [label, ttl] of BAD_DURATIONS) {
      it(`ttlMs as ${label}`, async () => {
        const { store, clock } = await open();
        await store.set('ok', bytes('x'), { ttlMs: MIN });
        await expectCode(store.set('ok', bytes('y'), { ttlMs: ttl as number }), 'INVALID_ARGUMENT');
        await expectCode(store.set('new', bytes('y'), { ttlMs: ttl as number }), 'INVALID_ARGUMENT');
        await expectCode(store.set('new', bytes('y'), { ttlMs: MIN, absoluteTtlMs: ttl as number }), 'INVALID_ARGUMENT');
        await expectCode(store.touch('ok', ttl as number), 'INVALID_ARGUMENT');
        await expectCode(store.rotate('ok', 'moved', { ttlMs: ttl as number }), 'INVALID_ARGUMENT');
        expect(await store.get('ok')).toMatchObject({ version: 1, expiresAt: clock.now() + MIN });
        expect(await store.get('new')).toBeUndefined();
        expect(await store.get('moved')).toBeUndefined();
      });
    }

    for (const [label, data] of BAD_BYTES) {
      it(`data as ${label}`, async () => {
        const { store } = await open();
        await expectCode(store.set('s', data as Uint8Array, { ttlMs: MIN }), 'INVALID_ARGUMENT');
        expect(await store.get('s')).toBeUndefined();
      });
    }

    for (const [label, v] of [
      ['negative', -1],
      ['fractional', 1.5],
      ['NaN', Number.NaN],
      ['a string', '1'],
      ['null', null],
    ] as const) {
      it(`ifVersion as ${label}`, async () => {
        const { store } = await open();
        await store.set('s', bytes('x'), { ttlMs: MIN });
        await expectCode(store.set('s', bytes('y'), { ttlMs: MIN, ifVersion: v as unknown as number }), 'INVALID_ARGUMENT');
        expect((await store.get('s'))!.version).toBe(1);
      });
    }

    it('missing or malformed options', async () => {
      const { store } = await open();
      await expectCode(store.set('s', bytes('x'), undefined as never), 'INVALID_ARGUMENT');
      await expectCode(store.set('s', bytes('x'), {} as never), 'INVALID_ARGUMENT');
      await expectCode(store.set('s', bytes('x'), 'ttl' as never), 'INVALID_ARGUMENT');
      await expectCode(store.rotate('a', 'b', 5 as never), 'INVALID_ARGUMENT');
      await expectCode(store.destroyByOwner('a', 'b' as never), 'INVALID_ARGUMENT');
      expect(await store.get('s')).toBeUndefined();
    });
  });
}
