import type { StreamStore, StreamWaitOutcome } from '@stowage/core';
import { describe, expect, it } from 'vitest';
import { opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { bytes, expectCode, sleep } from '../helpers.js';

const TEXT = 'text/plain';
const HOUR = 3_600_000;
const msgs = (...parts: string[]) => parts.map(bytes);
/** Longer than any bound below: only a store that misses the expiry waits this long. */
const WAIT_MS = 20_000;
/** What a loaded machine may add to a bound: a look at the backend, timers firing late. */
const SLACK_MS = 1500;

/** A pending wait whose outcome, once there, can be read synchronously. */
interface Watched {
  outcome: StreamWaitOutcome | undefined;
  promise: Promise<StreamWaitOutcome>;
}

function watch(promise: Promise<StreamWaitOutcome>): Watched {
  const w: Watched = { outcome: undefined, promise };
  void promise.then((o) => (w.outcome = o));
  return w;
}

/** The wait's outcome if it comes by `at` (epoch ms, this process's clock), else `pending`. */
async function outcomeBy(w: Watched, at: number): Promise<StreamWaitOutcome | 'pending'> {
  const timer = sleep(Math.max(0, at - Date.now())).then(() => 'pending' as const);
  return Promise.race([w.promise, timer]);
}

/** Lets a fresh wait take its first look at the stream. */
const firstLook = () => sleep(100);

/**
 * `wait` on a stream that expires resolves `missing` at its expiry on the store's clock (plus
 * one look at the backend), however the expiry comes: an idle TTL (renewed by reads
 * meanwhile), an absolute `expiresAt`, a fork's own or inherited expiry, a source kept hidden
 * for its fork. Nothing announces an expiry, so a store that only wakes waiters on changes
 * answers at the wait's own timeout (or at its next cleanup, if that notifies). A name
 * re-created meanwhile is another stream to the waiter.
 */
export function streamWaitExpiryTests(factory: StoreFactory<StreamStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);

  describe('wait on a stream that expires', () => {
    it('idle TTL: missing once the clock passes the expiry, by the expiry in this process time', async () => {
      const { store, clock } = await open();
      const { info } = await store.create('s', { contentType: TEXT, ttlMs: 1000 }, { messages: msgs('a') });
      const started = Date.now();
      const w = watch(store.wait('s', info.nextOffset, WAIT_MS));
      await firstLook();
      expect(w.outcome, 'the stream still lives').toBeUndefined();
      clock.advance(1000);
      expect(await outcomeBy(w, started + 1000 + SLACK_MS)).toBe('missing');
      expect(await store.head('s')).toBeUndefined();
    });

    it('a read meanwhile renews the TTL: the wait stays until the renewed expiry, then missing', async () => {
      const { store, clock, reopen } = await open();
      const other = await reopen();
      const { info } = await store.create('s', { contentType: TEXT, ttlMs: 1000 }, { messages: msgs('a') });
      const w = watch(store.wait('s', info.nextOffset, WAIT_MS));
      await firstLook();
      clock.advance(600);
      // Another replica reads: the stream now expires 1000 ms from here, and no waiter is told.
      await other.read('s', info.nextOffset);
      // Past the expiry the wait first learnt of (1000 ms after its first look, in real time).
      await sleep(1300);
      expect(w.outcome, 'the renewed stream still lives').toBeUndefined();
      expect(await store.head('s')).toBeDefined();
      const advanced = Date.now();
      clock.advance(1000);
      expect(await outcomeBy(w, advanced + 1000 + SLACK_MS)).toBe('missing');
    });

    it('expiresAt: missing once the clock reaches it', async () => {
      const { store, clock } = await open();
      const expiresAt = clock.now() + 1500;
      const { info } = await store.create('s', { contentType: TEXT, expiresAt }, { messages: msgs('a') });
      const started = Date.now();
      const w = watch(store.wait('s', info.nextOffset, WAIT_MS));
      await firstLook();
      expect(w.outcome, 'the stream still lives').toBeUndefined();
      clock.advance(1500);
      expect(await outcomeBy(w, started + 1500 + SLACK_MS)).toBe('missing');
    });

    it('a fork: its own TTL under a source that never expires, and an inherited expiresAt', async () => {
      const { store, clock } = await open();
      await store.create('src', { contentType: TEXT }, { messages: msgs('a') });
      await store.create('timed', { contentType: TEXT, expiresAt: clock.now() + 1000 }, { messages: msgs('a') });
      const own = await store.create('own', { contentType: TEXT, ttlMs: 1000 }, { fork: { from: 'src' } });
      const inherited = await store.create('inherits', {}, { fork: { from: 'timed' } });
      expect(inherited.info.expiresAt).toBe(clock.now() + 1000);
      const started = Date.now();
      const waits = [
        watch(store.wait('own', own.info.nextOffset, WAIT_MS)),
        watch(store.wait('inherits', inherited.info.nextOffset, WAIT_MS)),
      ];
      await firstLook();
      clock.advance(1000);
      for (const w of waits) expect(await outcomeBy(w, started + 1000 + SLACK_MS)).toBe('missing');
      expect(await store.head('src')).toBeDefined();
    });

    it('a source that expires while a fork reads through it (kept hidden, GONE): missing', async () => {
      const { store, clock } = await open();
      const { info } = await store.create('src', { contentType: TEXT, ttlMs: 1000 }, { messages: msgs('a') });
      await store.create('fork', { contentType: TEXT, ttlMs: HOUR }, { fork: { from: 'src' } });
      const started = Date.now();
      const w = watch(store.wait('src', info.nextOffset, WAIT_MS));
      await firstLook();
      clock.advance(1000);
      expect(await outcomeBy(w, started + 1000 + SLACK_MS)).toBe('missing');
      await expectCode(store.read('src', '-1'), 'GONE');
    });

    it('a name expired and re-created while a wait is pending: missing, never the new stream data', async () => {
      const { store, clock } = await open();
      const { info } = await store.create('s', { contentType: TEXT, ttlMs: 1000 }, { messages: msgs('a') });
      const w = watch(store.wait('s', info.nextOffset, WAIT_MS));
      await firstLook();
      clock.advance(1000);
      // The new incarnation has data past the offset the wait was given, of another stream.
      const again = await store.create('s', { contentType: TEXT }, { messages: msgs('x', 'y', 'z') });
      expect(again.status).toBe('created');
      expect(again.info.id).not.toBe(info.id);
      expect(await outcomeBy(w, Date.now() + 1000 + SLACK_MS)).toBe('missing');
    });

    it('a name deleted and re-created at once while a wait is pending: missing', async () => {
      const { store } = await open();
      const { info } = await store.create('s', { contentType: TEXT }, { messages: msgs('a') });
      const w = watch(store.wait('s', info.nextOffset, WAIT_MS));
      await firstLook();
      expect(await store.delete('s')).toBe(true);
      await store.create('s', { contentType: TEXT }, { messages: msgs('x', 'y', 'z') });
      expect(await outcomeBy(w, Date.now() + SLACK_MS)).toBe('missing');
    });
  });

  describe('wait on a stream that expires, in real time (the store clock)', () => {
    it('idle TTL of 1 s: missing by the expiry plus slack, never at the wait timeout', async () => {
      const { store } = await open('real-time');
      const { info } = await store.create('rt', { contentType: TEXT, ttlMs: 1000 }, { messages: msgs('a') });
      // The expiry is at most 1000 ms after the create returned, by the store's clock.
      const expires = Date.now() + 1000;
      const w = watch(store.wait('rt', info.nextOffset, WAIT_MS));
      expect(await outcomeBy(w, expires + SLACK_MS)).toBe('missing');
      // Missing means missing: said no earlier than the store's own answer.
      expect(await store.head('rt')).toBeUndefined();
    });

    it('a read from another replica renews the TTL: missing only after the renewed expiry', async () => {
      const { store, reopen } = await open('real-time');
      const other = await reopen();
      // 2 s, so the read 500 ms in lands well before the expiry on a loaded machine.
      const { info } = await store.create('rt', { contentType: TEXT, ttlMs: 2000 }, { messages: msgs('a') });
      const w = watch(store.wait('rt', info.nextOffset, WAIT_MS));
      await sleep(500);
      await other.read('rt', info.nextOffset);
      const expires = Date.now() + 2000;
      expect(await outcomeBy(w, expires + SLACK_MS)).toBe('missing');
      expect(await store.head('rt')).toBeUndefined();
    });

    it('a source with a 1 s TTL kept hidden for its fork: missing by the expiry plus slack', async () => {
      const { store } = await open('real-time');
      const { info } = await store.create('src', { contentType: TEXT, ttlMs: 1000 }, { messages: msgs('a') });
      const expires = Date.now() + 1000;
      await store.create('fork', { contentType: TEXT, ttlMs: HOUR }, { fork: { from: 'src' } });
      const w = watch(store.wait('src', info.nextOffset, WAIT_MS));
      expect(await outcomeBy(w, expires + SLACK_MS)).toBe('missing');
      await expectCode(store.read('src', '-1'), 'GONE');
    });

    it('expiresAt 1 s ahead on the store clock: missing by then plus slack', async () => {
      const { store } = await open('real-time');
      // The store's clock (a backend's own) read through a probe, as an offset from ours.
      const sent = Date.now();
      const probe = await store.create('probe', { contentType: TEXT });
      const offset = probe.info.createdAt - sent;
      const expires = Date.now() + 1000;
      const { info } = await store.create('rt', { contentType: TEXT, expiresAt: expires + offset }, { messages: msgs('a') });
      const w = watch(store.wait('rt', info.nextOffset, WAIT_MS));
      expect(await outcomeBy(w, expires + SLACK_MS)).toBe('missing');
      expect(await store.head('rt')).toBeUndefined();
    });
  });
}
