// The windows of @fastify/rate-limit's own stores, on every backend, two replicas over one
// namespace, next to the plugin's LocalStore given the same hits: a key's window starts at its
// first hit; continueExceeding restarts it at each hit over max; exponentialBackoff lengthens it.
// Ttls are compared where they are exact (a window (re)started by the hit itself); elsewhere only
// ranges and statuses, with conditions on measured gaps rather than on assumed timings.
import { describeStoreBackends } from '@stowage/test-stores';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openReplicas, type Replicas } from './app.js';
import { type HitApp, hitApp, sleep } from './hits.js';

/**
 * A window restarted by a hit lasts `length` from the hit's clock reading: on Redis and in
 * memory exactly, the script or process reading the clock when it holds the key. PostgreSQL
 * reads its clock when the statement starts, before it waits for the key's row lock: a hit
 * that waited behind one that restarted the window later finds the window starting after its
 * own reading (a clock behind the state counts as no time passed), so its ttl is longer by
 * that wait, which the call's deadline (`timeoutMs`, 5000 ms here) bounds. `round` is the
 * rounding of a header in whole seconds.
 */
function expectRestarted(ttl: number, length: number, round = 0): void {
  expect(ttl).toBeGreaterThanOrEqual(length);
  expect(ttl).toBeLessThanOrEqual(length + 5000 + round);
}

let n = 0;
/** A client no other test of the run has used. */
const fresh = (): string => `c${++n}-${Math.random().toString(36).slice(2, 8)}`;

await describeStoreBackends((backend) => {
  let replicas: Replicas;
  const apps: HitApp[] = [];
  /** Our store on both replicas, and the plugin's LocalStore, with the same options. */
  const trio = async (options: Parameters<typeof hitApp>[1], prefix: string): Promise<[HitApp, HitApp, HitApp]> => {
    const made = [
      await hitApp(replicas.stores[0], options, prefix),
      await hitApp(replicas.stores[1], options, prefix),
      await hitApp(undefined, options),
    ] as [HitApp, HitApp, HitApp];
    apps.push(...made);
    return made;
  };
  beforeAll(async () => {
    replicas = await openReplicas(backend);
  });
  afterAll(async () => {
    for (const app of apps) await app.app.close();
    await replicas.close();
  });

  it("a key's first window is a full timeWindow from its first hit, as in LocalStore; x-ratelimit-reset says so", async () => {
    const [a, b, local] = await trio({ max: 3, timeWindow: 60_000 }, 'first:');
    // Whenever the first hit comes: an epoch-aligned window would end sooner (59 s of 60 on average).
    for (const app of [a, b, local]) expect(await app.hit(fresh())).toEqual({ status: 200, exceeded: false, remaining: 2, ttl: 60_000 });
    const client = fresh();
    const first = await a.get(client);
    expect(first).toMatchObject({ status: 200, reset: '60' });
    expect((await local.get(client)).reset).toBe('60');
    const rest = [await b.get(client), await a.get(client), await b.get(client)];
    expect(rest.map((r) => r.status)).toEqual([200, 200, 429]);
    for (const r of rest) expect(Number(r.reset)).toBeGreaterThanOrEqual(59);
    // The window's end does not move with later hits (keep): the ttl only shrinks.
    const c = fresh();
    const t1 = (await a.hit(c)).ttl;
    await sleep(30);
    const t2 = (await b.hit(c)).ttl;
    expect(t1).toBe(60_000);
    expect(t2).toBeLessThan(60_000);
    expect(t2).toBeGreaterThan(50_000);
  });

  it('a window ends timeWindow after the first hit: then the next hit starts a new one', async () => {
    const [a, b, local] = await trio({ max: 2, timeWindow: 1000 }, 'ends:');
    const client = fresh();
    for (const app of [
      [a, b],
      [local, local],
    ] as const) {
      const start = Date.now();
      const first = await app[0].hit(client);
      // The window started when the first hit read the clock: at the latest, now.
      const windowEnd = Date.now() + 1000;
      const answers = [first, await app[1].hit(client), await app[0].hit(client)];
      if (Date.now() - start < 900) expect(answers.map((r) => r.status)).toEqual([200, 200, 429]);
      await sleep(Math.max(0, windowEnd + 100 - Date.now()));
      expect(await app[1].hit(client)).toEqual({ status: 200, exceeded: false, remaining: 1, ttl: 1000 });
    }
  });

  it('continueExceeding: each hit over max restarts the window, so a client that keeps hitting stays blocked', async () => {
    const W = 1500;
    const [a, b, local] = await trio({ max: 2, timeWindow: W, continueExceeding: true }, 'continue:');
    const client = fresh();
    const begin = Date.now();
    for (const app of [a, b]) expect(await app.hit(client)).toMatchObject({ status: 200 });
    for (let i = 0; i < 2; i++) await local.hit(client);
    let last = Date.now();
    // Hits over max, each within the window the previous one restarted, until well past the first window.
    let over = 0;
    while (Date.now() - begin < 2.5 * W) {
      await sleep(W / 3);
      const gap = Date.now() - last;
      const [ours, theirs] = [await (over % 2 ? a : b).hit(client), await local.hit(client)];
      last = Date.now();
      over++;
      if (gap >= W - 100) continue; // a stall longer than the window: nothing to check here
      // Both stores restart the window at the hit: the ttl is exactly timeWindow.
      expect(ours).toEqual({ status: 429, exceeded: true, remaining: 0, ttl: W });
      expect(theirs).toEqual(ours);
    }
    expect(over).toBeGreaterThanOrEqual(4);
    // A quiet timeWindow: admitted again, in a new window.
    await sleep(W + 100);
    expect(await b.hit(client)).toEqual({ status: 200, exceeded: false, remaining: 1, ttl: W });
    expect(await local.hit(client)).toEqual({ status: 200, exceeded: false, remaining: 1, ttl: W });
  });

  it("exponentialBackoff: each hit over max restarts the window at timeWindow * 2^(current - max - 1), as the plugin's stores", async () => {
    const W = 2000;
    const [a, b, local] = await trio({ max: 2, timeWindow: W, exponentialBackoff: true }, 'backoff:');
    const client = fresh();
    const ours: number[] = [];
    const theirs: number[] = [];
    for (let i = 0; i < 7; i++) {
      ours.push((await (i % 2 ? a : b).hit(client)).ttl);
      theirs.push((await local.hit(client)).ttl);
    }
    // Hits 1, 2 in the first window (ttl up to W), then W, 2W, 4W, 8W, 16W.
    expect(ours.slice(2)).toEqual([W, 2 * W, 4 * W, 8 * W, 16 * W]);
    expect(theirs.slice(2)).toEqual(ours.slice(2));
    for (const ttl of [...ours.slice(0, 2), ...theirs.slice(0, 2)]) expect(ttl).toBeLessThanOrEqual(W);
    // The lengthened window holds (as in the plugin's RedisStore; its LocalStore forgets a key
    // timeWindow after the last hit whatever the ttl it reported): a read sees its end.
    const read = await a.peek(client);
    expect(read).toMatchObject({ status: 429, exceeded: true, remaining: 0 });
    expect(read.ttl).toBeGreaterThan(15 * W);
    expect(read.ttl).toBeLessThanOrEqual(16 * W);
    await sleep(W + 100);
    expect(await b.hit(client)).toEqual({ status: 429, exceeded: true, remaining: 0, ttl: 32 * W });
  });

  it('continueExceeding over two replicas: 30 racing hits with max 10, exactly 10 admitted, every refused one restarting the window', async () => {
    const W = 60_000;
    const [a, b] = await trio({ max: 10, timeWindow: W, continueExceeding: true }, 'race-continue:');
    const client = fresh();
    const answers = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).hit(client)));
    const admitted = answers.filter((r) => r.status === 200);
    const refused = answers.filter((r) => r.status === 429);
    expect([admitted.length, refused.length]).toEqual([10, 20]);
    expect(admitted.map((r) => r.remaining).sort((x, y) => x - y)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    for (const r of refused) {
      expect(r).toMatchObject({ status: 429, exceeded: true, remaining: 0 });
      expectRestarted(r.ttl, W);
    }
    for (const r of admitted) expect(r.ttl).toBeLessThanOrEqual(W);
  });

  it('exponentialBackoff over two replicas: 16 racing hits with max 10, the 6 refused get W, 2W, ..., 32W once each', async () => {
    const W = 60_000;
    const [a, b] = await trio({ max: 10, timeWindow: W, exponentialBackoff: true }, 'race-backoff:');
    const client = fresh();
    const answers = await Promise.all(Array.from({ length: 16 }, (_, i) => (i % 2 ? a : b).get(client)));
    expect(answers.filter((r) => r.status === 200)).toHaveLength(10);
    const refused = answers.filter((r) => r.status === 429);
    // x-ratelimit-reset is the ttl in whole seconds: each hit over max got its own exponent.
    const resets = refused.map((r) => Number(r.reset)).sort((x, y) => x - y);
    expect(resets).toHaveLength(6);
    for (const [k, reset] of resets.entries()) expectRestarted(reset * 1000, W * 2 ** k, 1000);
  });
});
