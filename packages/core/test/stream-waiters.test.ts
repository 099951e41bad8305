import { describe, expect, it } from 'vitest';
import { EXPIRY_RECHECK_MIN_MS, expiryRecheckMs, StreamWaiters, waitOutcome, type TailSnapshot } from '../src/streams/waiters.js';

const T = 1_800_000_000_123;
const snap = (over: Partial<TailSnapshot> = {}): TailSnapshot => ({
  id: 'a',
  tail: 3,
  closed: false,
  expiresAt: undefined,
  now: T,
  ...over,
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('waitOutcome', () => {
  it('missing for no stream, another incarnation, or an expiry reached', () => {
    expect(waitOutcome(undefined, 3)).toBe('missing');
    expect(waitOutcome(snap({ id: 'b', tail: 9 }), 3, 'a')).toBe('missing');
    expect(waitOutcome(snap({ expiresAt: T, tail: 9 }), 3)).toBe('missing');
  });
  it('data past the position, closed at it, else keep waiting (one ms before the expiry too)', () => {
    expect(waitOutcome(snap({ tail: 4 }), 3, 'a')).toBe('data');
    expect(waitOutcome(snap({ closed: true }), 3)).toBe('closed');
    expect(waitOutcome(snap({ expiresAt: T + 1 }), 3, 'a')).toBeUndefined();
  });
});

describe('expiryRecheckMs', () => {
  it('the time to the expiry on the store clock, none without an expiry or past the wait', () => {
    expect(expiryRecheckMs(snap({ expiresAt: T + 1000 }), 20_000)).toBe(1000);
    expect(expiryRecheckMs(snap(), 20_000)).toBeUndefined();
    expect(expiryRecheckMs(snap({ expiresAt: T + 1000 }), 1000)).toBeUndefined();
  });
  it('never sooner than the floor, never past what setTimeout takes', () => {
    expect(expiryRecheckMs(snap({ expiresAt: T + 1 }), 20_000)).toBe(EXPIRY_RECHECK_MIN_MS);
    expect(expiryRecheckMs(snap({ expiresAt: T + 2 ** 40 }), 2 ** 41)).toBe(2 ** 31 - 1);
  });
});

describe('StreamWaiters timeout', () => {
  it('a timeout past what setTimeout takes (2^31 - 1 ms) still waits: Node would fire it at once', async () => {
    const waiters = new StreamWaiters();
    const abort = new AbortController();
    let settled: string | undefined;
    const waiting = waiters
      .wait('s', { look: () => snap(), position: 3, timeoutMs: 2 ** 31 + 1000, signal: abort.signal })
      .then((o) => (settled = o));
    await sleep(100);
    expect(settled).toBeUndefined();
    abort.abort();
    expect(await waiting).toBe('aborted');
  });
});

describe('StreamWaiters and expiry', () => {
  it('looks again at the expiry without being notified, and resolves missing then', async () => {
    const waiters = new StreamWaiters();
    let looks = 0;
    const started = Date.now();
    const outcome = await waiters.wait('s', {
      // The stream lives 150 ms on a clock running with ours; nothing ever notifies.
      look: () => {
        looks++;
        const now = T + (Date.now() - started);
        return now >= T + 150 ? undefined : snap({ expiresAt: T + 150, now });
      },
      position: 3,
      timeoutMs: 20_000,
    });
    expect(outcome).toBe('missing');
    expect(looks).toBeGreaterThanOrEqual(2);
    expect(waiters.size).toBe(0);
  });

  it('a clock standing still just before the expiry: looks no more often than the floor', async () => {
    const waiters = new StreamWaiters();
    let looks = 0;
    const outcome = await waiters.wait('s', {
      look: () => {
        looks++;
        return snap({ expiresAt: T + 1 });
      },
      position: 3,
      timeoutMs: 300,
    });
    expect(outcome).toBe('timeout');
    // One first look, then at most one per 10 ms floor; a 1 ms timer looks about 300 times.
    expect(EXPIRY_RECHECK_MIN_MS).toBeGreaterThanOrEqual(10);
    expect(looks).toBeLessThanOrEqual(31);
  });

  it('a stream expiring after the wait times out costs no second look', async () => {
    const waiters = new StreamWaiters();
    let looks = 0;
    const outcome = await waiters.wait('s', {
      look: () => {
        looks++;
        return snap({ expiresAt: T + 60_000 });
      },
      position: 3,
      timeoutMs: 200,
    });
    expect(outcome).toBe('timeout');
    expect(looks).toBe(1);
  });

  it('a notification that finds another incarnation resolves missing, even with data there', async () => {
    const waiters = new StreamWaiters();
    let current = snap();
    const waiting = waiters.wait('s', { look: () => current, position: 3, timeoutMs: 20_000 });
    await sleep(20);
    current = snap({ id: 'b', tail: 10 });
    waiters.notify('s');
    expect(await waiting).toBe('missing');
  });
});

describe('StreamWaiters and many waiters of one name', () => {
  it('one notification: one look for all of them, each resolved by its own position', async () => {
    const waiters = new StreamWaiters();
    let tail = 3;
    let looks = 0;
    const look = () => {
      looks++;
      return snap({ tail });
    };
    const waits = Array.from({ length: 100 }, (_, i) => waiters.wait('s', { look, position: i % 2 === 0 ? 3 : 4, timeoutMs: 20_000 }));
    await sleep(0);
    expect(looks).toBe(100); // each its first look
    tail = 4;
    waiters.notify('s');
    await sleep(0);
    expect(looks).toBe(101);
    expect(waiters.size).toBe(50); // those at 4 keep waiting
    tail = 5;
    waiters.notifyAll();
    expect((await Promise.all(waits)).every((o) => o === 'data')).toBe(true);
    expect(looks).toBe(102);
  });

  it('a waiter mid-look when notified looks again on its own after', async () => {
    const waiters = new StreamWaiters();
    let tail = 3;
    let looks = 0;
    let release: (() => void) | undefined;
    const look = async () => {
      looks++;
      const seen = tail;
      if (looks === 1) await new Promise<void>((r) => (release = r)); // the first look is slow: it saw the old tail
      return snap({ tail: seen });
    };
    const wait = waiters.wait('s', { look, position: 3, timeoutMs: 20_000 });
    await sleep(0);
    tail = 4;
    waiters.notify('s');
    release!();
    expect(await wait).toBe('data');
    expect(looks).toBe(2);
  });
});

describe('StreamWaiters told the tail a change left', () => {
  it('answers waiters of that incarnation below it without a look; the others look as usual', async () => {
    const waiters = new StreamWaiters();
    let current = snap({ tail: 3 });
    let looks = 0;
    const look = () => {
      looks++;
      return current;
    };
    const below = Array.from({ length: 10 }, () => waiters.wait('s', { look, position: 3, timeoutMs: 20_000 }));
    const at = waiters.wait('s', { look, position: 4, timeoutMs: 20_000 });
    await sleep(0);
    expect(looks).toBe(11); // each its first look
    current = snap({ tail: 4 });
    waiters.notify('s', { id: 'a', tail: 4 });
    expect(await Promise.all(below)).toEqual(Array(10).fill('data'));
    await sleep(0);
    // One shared look, for the waiter at 4 only (it keeps waiting).
    expect(looks).toBe(12);
    expect(waiters.size).toBe(1);
    current = snap({ tail: 5 });
    waiters.notify('s', { id: 'a', tail: 5 });
    expect(await at).toBe('data');
    expect(looks).toBe(12);
  });

  it('a late notice of an earlier incarnation is not taken for the stream now under the name', async () => {
    const waiters = new StreamWaiters();
    let looks = 0;
    const waiting = waiters.wait('s', {
      look: () => {
        looks++;
        return snap({ id: 'b', tail: 0 });
      },
      position: 0,
      timeoutMs: 20_000,
    });
    await sleep(0);
    // An append to incarnation 'a', reported after 'b' replaced it: 'b' is looked at, still empty.
    waiters.notify('s', { id: 'a', tail: 7 });
    await sleep(0);
    expect(looks).toBe(2);
    expect(waiters.size).toBe(1);
    waiters.close();
    expect(await waiting).toBe('aborted');
  });

  /** A wait whose first look hangs until released and then sees `first`; later looks see `later`. */
  function slowFirstLook(first: TailSnapshot, later: TailSnapshot) {
    const waiters = new StreamWaiters();
    let looks = 0;
    let release: (() => void) | undefined;
    const waiting = waiters.wait('s', {
      look: async () => {
        looks++;
        if (looks === 1) await new Promise<void>((r) => (release = r));
        return looks === 1 ? first : later;
      },
      position: 3,
      timeoutMs: 20_000,
    });
    return { waiters, waiting, looks: () => looks, release: () => release!() };
  }

  it('a change heard before its first look settled is taken once that look names the same incarnation', async () => {
    const w = slowFirstLook(snap({ tail: 3 }), snap({ tail: 4 }));
    await sleep(0);
    w.waiters.notify('s', { id: 'a', tail: 4 });
    w.release();
    expect(await w.waiting).toBe('data');
    expect(w.looks()).toBe(1);
  });

  it('one heard before a first look that finds another incarnation, or below the position, is not taken', async () => {
    const other = slowFirstLook(snap({ id: 'b', tail: 3 }), snap({ id: 'b', tail: 3 }));
    await sleep(0);
    other.waiters.notify('s', { id: 'a', tail: 4 });
    other.release();
    await sleep(5);
    expect(other.looks()).toBe(2); // looked again, as usual, and still waits
    other.waiters.close();
    expect(await other.waiting).toBe('aborted');

    const below = slowFirstLook(snap({ tail: 3 }), snap({ tail: 3 }));
    await sleep(0);
    below.waiters.notify('s', { id: 'a', tail: 3 });
    below.release();
    await sleep(5);
    expect(below.looks()).toBe(2);
    below.waiters.close();
    expect(await below.waiting).toBe('aborted');
  });
});

describe('StreamWaiters.failAll', () => {
  it('rejects every pending wait with the error, one whose look is in flight too; later waits are unaffected', async () => {
    const w = new StreamWaiters();
    const err = new Error('backend gone');
    let hung = false;
    // A look that never answers (a command resent after a reconnect): only failAll ends that wait.
    const stuck = w.wait('a', { look: () => ((hung = true), new Promise<TailSnapshot>(() => {})), position: 3, timeoutMs: 60_000 });
    const idle = w.wait('b', { look: () => snap(), position: 3, timeoutMs: 60_000 });
    await sleep(5);
    expect(hung).toBe(true);
    expect(w.size).toBe(2);
    w.failAll(err);
    await expect(stuck).rejects.toBe(err);
    await expect(idle).rejects.toBe(err);
    expect(w.size).toBe(0);
    expect(await w.wait('b', { look: () => snap({ tail: 4 }), position: 3, timeoutMs: 60_000 })).toBe('data');
  });
});
