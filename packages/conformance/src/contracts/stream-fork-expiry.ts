import type { StreamStore } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { bytes, expectCode, text } from '../helpers.js';

const TEXT = 'text/plain';
const HOUR = 3_600_000;
const msgs = (...parts: string[]) => parts.map(bytes);

async function readAll(store: StreamStore, name: string): Promise<string[]> {
  const out: string[] = [];
  let offset = '-1';
  for (let i = 0; i < 1000; i++) {
    const r = await store.read(name, offset);
    out.push(...r.messages.map((m) => text(m.data)));
    offset = r.nextOffset;
    if (r.atTail) return out;
  }
  throw new Error('readAll did not reach the tail');
}

/** Every direct use of `name` sees no stream: the answers of a name never created. */
async function expectAbsent(store: StreamStore, name: string): Promise<void> {
  expect(await store.head(name), `head ${name}`).toBeUndefined();
  await expectCode(store.read(name, '-1'), 'NOT_FOUND');
  await expectCode(store.append(name, msgs('x')), 'NOT_FOUND');
  await expectCode(store.closeStream(name), 'NOT_FOUND');
  await expectCode(store.create(`${name}+fork`, {}, { fork: { from: name } }), 'NOT_FOUND');
  expect(await store.wait(name, '-1', 1000), `wait ${name}`).toBe('missing');
  expect(await store.delete(name), `delete ${name}`).toBe(false);
}

/** Every direct use of `name` answers that it is kept, hidden, for a fork. */
async function expectGone(store: StreamStore, name: string): Promise<void> {
  expect(await store.head(name), `head ${name}`).toBeUndefined();
  await expectCode(store.read(name, '-1'), 'GONE');
  await expectCode(store.append(name, msgs('x')), 'GONE');
  await expectCode(store.closeStream(name), 'GONE');
  await expectCode(store.delete(name), 'GONE');
  await expectCode(store.create(name, { contentType: TEXT }), 'CONFLICT');
}

/**
 * A source kept hidden for its forks is kept only while one of them is there to read it: once
 * every fork has expired (or been deleted), the source is absent at once, on the store's clock,
 * whether or not `cleanupExpired` has run (no test here calls it before it says so).
 */
export function streamForkExpiryTests(factory: StoreFactory<StreamStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);

  describe('a source kept for forks that have all expired', () => {
    it('a deleted source whose only fork expired is absent at once, and its name is free', async () => {
      const { store, clock } = await open();
      await store.create('s', { contentType: TEXT }, { messages: msgs('a', 'b') });
      await store.create('f', { contentType: TEXT, ttlMs: 1000 }, { fork: { from: 's' } });
      expect(await store.delete('s')).toBe(true);
      clock.advance(999);
      await expectGone(store, 's');
      expect(await readAll(store, 'f')).toEqual(['a', 'b']); // renews the fork: it now ends 1000 ms from here
      clock.advance(1000);
      await expectAbsent(store, 'f');
      await expectAbsent(store, 's');
      const again = await store.create('s', { contentType: TEXT }, { messages: msgs('new') });
      expect(again.status).toBe('created');
      expect(await readAll(store, 's')).toEqual(['new']);
      expect((await store.create('f', { contentType: TEXT })).status).toBe('created');
      expect(await readAll(store, 'f')).toEqual([]);
    });

    it('an expired source whose fork expired later is absent at once', async () => {
      const { store, clock } = await open();
      await store.create('s', { contentType: TEXT, ttlMs: 1000 }, { messages: msgs('a') });
      await store.create('f', { contentType: TEXT, ttlMs: 2000 }, { fork: { from: 's' } });
      clock.advance(1000);
      await expectGone(store, 's');
      clock.advance(1000);
      await expectAbsent(store, 'f');
      await expectAbsent(store, 's');
      expect((await store.create('s', { contentType: TEXT })).status).toBe('created');
    });

    it('a chain: a source and the middle fork, both deleted, go when the last fork expires', async () => {
      const { store, clock } = await open();
      await store.create('a', { contentType: TEXT }, { messages: msgs('a1') });
      await store.create('b', { contentType: TEXT, ttlMs: HOUR }, { fork: { from: 'a' } });
      await store.append('b', msgs('b1'));
      await store.create('c', { contentType: TEXT, ttlMs: 1000 }, { fork: { from: 'b' } });
      expect(await store.delete('a')).toBe(true);
      expect(await store.delete('b')).toBe(true);
      await expectGone(store, 'a');
      await expectGone(store, 'b');
      expect(await readAll(store, 'c')).toEqual(['a1', 'b1']);
      clock.advance(1000);
      for (const name of ['c', 'b', 'a']) await expectAbsent(store, name);
      for (const name of ['a', 'b', 'c']) expect((await store.create(name, { contentType: TEXT })).status, name).toBe('created');
    });

    it('a chain: a middle fork that expired stays hidden while its own fork lives, then all go', async () => {
      const { store, clock } = await open();
      await store.create('a', { contentType: TEXT }, { messages: msgs('a1') });
      await store.create('b', { contentType: TEXT, ttlMs: 1000 }, { fork: { from: 'a' } });
      await store.create('c', { contentType: TEXT, ttlMs: 2000 }, { fork: { from: 'b' } });
      expect(await store.delete('a')).toBe(true);
      clock.advance(1000);
      await expectGone(store, 'a');
      await expectGone(store, 'b');
      expect(await store.head('c')).toBeDefined();
      clock.advance(1000);
      for (const name of ['c', 'b', 'a']) await expectAbsent(store, name);
    });

    it('one expired fork and one live: the source stays hidden until the live one is deleted', async () => {
      const { store, clock } = await open();
      await store.create('s', { contentType: TEXT }, { messages: msgs('a') });
      await store.create('f1', { contentType: TEXT, ttlMs: 1000 }, { fork: { from: 's' } });
      await store.create('f2', { contentType: TEXT, ttlMs: HOUR }, { fork: { from: 's' } });
      expect(await store.delete('s')).toBe(true);
      clock.advance(1000);
      await expectAbsent(store, 'f1');
      await expectGone(store, 's');
      expect(await readAll(store, 'f2')).toEqual(['a']);
      expect(await store.delete('f2')).toBe(true);
      await expectAbsent(store, 's');
    });

    it('deleting a live source whose forks all expired leaves nothing hidden', async () => {
      const { store, clock } = await open();
      await store.create('s', { contentType: TEXT }, { messages: msgs('a') });
      await store.create('f', { contentType: TEXT, ttlMs: 1000 }, { fork: { from: 's' } });
      clock.advance(1000);
      expect(await readAll(store, 's')).toEqual(['a']);
      expect(await store.delete('s')).toBe(true);
      await expectAbsent(store, 's');
      expect((await store.create('s', { contentType: TEXT })).status).toBe('created');
    });

    it('a name reused this way is a new stream that cleanup of the old forks never touches', async () => {
      const { store, clock } = await open();
      await store.create('s', { contentType: TEXT }, { messages: msgs('old') });
      await store.create('f', { contentType: TEXT, ttlMs: 1000 }, { fork: { from: 's' } });
      await store.create('g', { contentType: TEXT, ttlMs: 1000 }, { fork: { from: 'f' } });
      expect(await store.delete('s')).toBe(true);
      expect(await store.delete('f')).toBe(true);
      clock.advance(1000);
      expect((await store.create('s', { contentType: TEXT }, { messages: msgs('new') })).status).toBe('created');
      expect((await store.create('f', {}, { fork: { from: 's' } })).status).toBe('created');
      await store.cleanupExpired();
      // The new `s` is still held by its own fork `f`: deleting it keeps it hidden, `f` reads it.
      expect(await store.delete('s')).toBe(true);
      await expectGone(store, 's');
      expect(await readAll(store, 'f')).toEqual(['new']);
      await store.cleanupExpired();
      expect(await readAll(store, 'f')).toEqual(['new']);
      expect(await store.delete('f')).toBe(true);
      await expectAbsent(store, 's');
      await expectAbsent(store, 'g');
    });

    it('a stream kept for its fork, or closed, still refuses a bad argument for the argument', async () => {
      const { store } = await open();
      await store.create('s', { contentType: TEXT }, { messages: msgs('a') });
      await store.create('f', {}, { fork: { from: 's' } });
      expect(await store.delete('s')).toBe(true);
      await store.create('closed', { contentType: TEXT, closed: true });
      for (const name of ['s', 'closed']) {
        await expectCode(store.read(name, 'x'), 'INVALID_ARGUMENT');
        await expectCode(store.append(name, []), 'INVALID_ARGUMENT');
        await expectCode(store.closeStream(name, { producer: { id: 'p', epoch: -1, seq: 0 } }), 'INVALID_ARGUMENT');
        await expectCode(store.create(name, { contentType: TEXT, ttlMs: 0 }), 'INVALID_ARGUMENT');
        await expectCode(store.read(name, '-1', { deadline: Date.now() - 1 }), 'TIMEOUT');
      }
      await expectGone(store, 's');
    });
  });
}
