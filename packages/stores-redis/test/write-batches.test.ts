import { createServer, connect as dial, type Server, Socket } from 'node:net';
import { newNamespace } from '@stowage/conformance';
import { redisBackends } from '@stowage/conformance/backends';
import { createClient, createCluster } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { BATCH, ClosedBeforeSend, type Handover, SendTimePassed, WriteBatches } from '../src/clients/write-batches.js';
import { didNotRun } from '../src/base.js';
import { RedisRateLimitStore, RedisSessionStore } from '../src/index.js';
import { startCluster } from './helpers.js';

const backends = await redisBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

const nextIteration = () => new Promise((resolve) => setImmediate(resolve));

/** A call's handover to the batches: never sent after `sendBy`. */
const handover = (sendBy = Number.POSITIVE_INFINITY): Handover => ({ sendBy, handed: false, cancelled: false });

/**
 * The event loop's iterations from now, counted (up to 50): started before the sends, its
 * `setImmediate` runs first in each check phase.
 */
function iterations(): () => number {
  let iteration = 0;
  const ticker = () => {
    iteration++;
    if (iteration < 50) setImmediate(ticker);
  };
  setImmediate(ticker);
  return () => iteration;
}

describe('WriteBatches', () => {
  it(`hands over ${BATCH} commands per event-loop iteration, in the order issued, and a lone one at once`, async () => {
    const batches = new WriteBatches(1, () => true);
    const iteration = iterations();
    const handed: [number, number][] = [];
    const sends = Array.from({ length: 2 * BATCH + 5 }, (_, i) => batches.send(async () => handed.push([i, iteration()]), handover()));
    expect(handed.map(([i]) => i)).toEqual(Array.from({ length: BATCH }, (_, i) => i)); // the first batch: now
    await Promise.all(sends);
    expect(handed.map(([i]) => i)).toEqual(Array.from({ length: 2 * BATCH + 5 }, (_, i) => i));
    const perIteration = new Map<number, number>();
    for (const [, at] of handed) perIteration.set(at, (perIteration.get(at) ?? 0) + 1);
    expect([...perIteration.values()]).toEqual([BATCH, BATCH, 5]);

    // Later, with nothing waiting: a lone command is handed over in the same turn.
    await nextIteration();
    await nextIteration();
    let sent = false;
    const lone = batches.send(async () => {
      sent = true;
    }, handover());
    expect(sent).toBe(true);
    await lone;
  });

  it('with two turns (a cluster), a batch every other iteration', async () => {
    const batches = new WriteBatches(2, () => true);
    const iteration = iterations();
    const at: number[] = [];
    await Promise.all(Array.from({ length: 3 * BATCH }, () => batches.send(async () => at.push(iteration()), handover())));
    expect([...new Set(at)]).toEqual([0, 2, 4]);
    expect(at.filter((i) => i === 2)).toHaveLength(BATCH);
  });

  it('with two turns, commands handed over at once after the first turn count to the next batch: at most 32 per client write', async () => {
    // node-redis cluster's timing, as pure logic: the node client is found in promise
    // callbacks, and writes everything it got in one setImmediate queued at its first command.
    const writes: number[] = [];
    let pending = 0;
    const clusterSend = async (): Promise<void> => {
      await Promise.resolve(); // the slot's node
      if (pending++ === 0) {
        setImmediate(() => {
          writes.push(pending);
          pending = 0;
        });
      }
    };
    const batches = new WriteBatches(2, () => true);
    await batches.send(clusterSend, handover()); // an earlier call: its schedule's first turn is next
    await nextIteration(); // that turn ran; its client's write too; the answer comes now
    await Promise.all(Array.from({ length: 2 * BATCH + 5 }, () => batches.send(clusterSend, handover())));
    await nextIteration();
    expect(writes.reduce((a, b) => a + b, 0)).toBe(2 * BATCH + 6);
    expect(writes).toEqual([1, BATCH, BATCH, 5]);
  });

  it('a waiting command whose time passed, or whose call cancelled it, is never sent: SendTimePassed; handed says which were sent', async () => {
    const batches = new WriteBatches(1, () => true);
    const sent: number[] = [];
    const handovers = Array.from({ length: BATCH + 4 }, (_, i) => handover(i === BATCH + 1 ? Date.now() : Date.now() + 60_000));
    const calls = handovers.map((h, i) => batches.send(async () => sent.push(i), h));
    handovers[BATCH + 2]!.cancelled = true; // its call's timer fired first
    expect(handovers.map((h) => h.handed)).toEqual(handovers.map((_, i) => i < BATCH));
    const settled = await Promise.allSettled(calls);
    for (const i of [BATCH + 1, BATCH + 2]) expect(settled[i]).toMatchObject({ status: 'rejected', reason: expect.any(SendTimePassed) });
    expect(sent).toEqual(handovers.map((_, i) => i).filter((i) => i !== BATCH + 1 && i !== BATCH + 2));
    expect(handovers.map((h) => h.handed)).toEqual(handovers.map((_, i) => i !== BATCH + 1 && i !== BATCH + 2));
  });

  it('a command without a handover (a store that does not batch) never overtakes those waiting; none is sent after the client closed', async () => {
    let open = true;
    const batches = new WriteBatches(1, () => open);
    const order: string[] = [];
    const calls = Array.from({ length: BATCH + 2 }, (_, i) => batches.send(async () => order.push(`b${i}`), handover()));
    const unbatched = batches.send(async () => order.push('u'), undefined);
    expect(order).toHaveLength(BATCH); // 'u' waits behind the two batched ones still waiting
    await Promise.all([...calls, unbatched]);
    expect(order.slice(BATCH)).toEqual([`b${BATCH}`, `b${BATCH + 1}`, 'u']);
    // With nothing waiting, it goes at once, and is not counted in a batch.
    order.length = 0;
    await batches.send(async () => order.push('u2'), undefined);
    expect(order).toEqual(['u2']);

    await nextIteration();
    await nextIteration(); // a new write: a whole batch again
    const more = Array.from({ length: BATCH + 1 }, () => batches.send(async () => 'sent', handover()));
    open = false;
    const settled = await Promise.allSettled(more);
    expect(settled.filter((r) => r.status === 'fulfilled')).toHaveLength(BATCH);
    expect(settled[BATCH]).toMatchObject({ status: 'rejected', reason: expect.any(ClosedBeforeSend) });
  });

  it('a send that throws, now or later, rejects its own call only', async () => {
    const batches = new WriteBatches(1, () => true);
    const boom = () => {
      throw new Error('boom');
    };
    expect(() => batches.send(boom, handover())).toThrow('boom'); // handed over at once: thrown as the client threw it
    const calls = Array.from({ length: BATCH + 2 }, (_, i) =>
      i === BATCH ? batches.send(boom, handover()) : batches.send(async () => i, handover()),
    );
    const settled = await Promise.allSettled(calls);
    expect(settled[BATCH]).toMatchObject({ status: 'rejected', reason: { message: 'boom' } });
    expect(settled.filter((s) => s.status === 'fulfilled').map((s) => (s as PromiseFulfilledResult<number>).value)).toEqual(
      Array.from({ length: BATCH + 2 }, (_, i) => i).filter((i) => i !== BATCH),
    );
  });
});

/** A relay on loopback to Redis that counts the `EVALSHA` commands of each chunk it receives from the client. */
async function countingRelay(target: URL): Promise<{ url: string; chunks: number[]; close(): void }> {
  const chunks: number[] = [];
  const marker = Buffer.from('EVALSHA');
  const server: Server = createServer((client) => {
    const upstream = dial(Number(target.port), target.hostname);
    client.on('data', (chunk: Buffer) => {
      let n = 0;
      for (let at = chunk.indexOf(marker); at >= 0; at = chunk.indexOf(marker, at + 1)) n++;
      if (n > 0) chunks.push(n);
      upstream.write(chunk);
    });
    upstream.pipe(client);
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return { url: `redis://127.0.0.1:${port}`, chunks, close: () => server.close() };
}

describe('node-redis: the calls of one turn reach Redis in batches', () => {
  const policy = { algorithm: 'fixed-window', limit: 1000, windowMs: 60_000 } as const;

  for (const coalesceWrites of [true, false]) {
    it(`coalesceWrites ${coalesceWrites}: 100 consumes issued together, decided in order`, async () => {
      const relay = await countingRelay(new URL(backends[0]!.url!));
      const client = createClient({ url: relay.url });
      await client.connect();
      try {
        const store = new RedisRateLimitStore({ client, prefix: newNamespace(), coalesceWrites });
        await store.consume('warm', policy); // the client's first script waits for a clock sample (TIME)
        relay.chunks.length = 0;
        const decisions = await Promise.all(Array.from({ length: 100 }, () => store.consume('k', policy)));
        expect(decisions.map((d) => d.remaining)).toEqual(Array.from({ length: 100 }, (_, i) => 999 - i));
        expect(relay.chunks.reduce((a, b) => a + b, 0)).toBe(100);
        if (coalesceWrites) {
          // At most BATCH per write (a chunk may hold less: TCP may split a write, never join two here).
          expect(Math.max(...relay.chunks)).toBeLessThanOrEqual(BATCH);
          expect(relay.chunks.length).toBeGreaterThanOrEqual(Math.ceil(100 / BATCH));
        } else {
          expect(Math.max(...relay.chunks)).toBeGreaterThan(BATCH); // node-redis's own: one write
        }
      } finally {
        await client.close();
        relay.close();
      }
    });
  }
});

/**
 * Counts the `EVALSHA` commands of each socket write node-redis makes (it corks, writes each
 * command, uncorks) to the given ports, by wrapping `Socket`'s methods for the test's span.
 */
function countSocketWrites(ports: readonly number[]): { writes: number[]; restore(): void } {
  const writes: number[] = [];
  const proto = Socket.prototype;
  const { cork, uncork, write } = proto;
  const open = new WeakMap<Socket, number>();
  const ours = (s: Socket) => s.remotePort !== undefined && ports.includes(s.remotePort);
  proto.cork = function (this: Socket) {
    if (ours(this) && !open.has(this)) open.set(this, 0);
    return cork.call(this);
  };
  proto.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
    if (open.has(this)) {
      const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('latin1') : '';
      open.set(this, open.get(this)! + text.split('EVALSHA').length - 1);
    }
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof proto.write;
  proto.uncork = function (this: Socket) {
    const n = open.get(this);
    if (n !== undefined) {
      open.delete(this);
      if (n > 0) writes.push(n);
    }
    return uncork.call(this);
  };
  return {
    writes,
    restore: () => Object.assign(proto, { cork, uncork, write }),
  };
}

describe('node-redis cluster: the calls of one turn reach a node in batches', () => {
  it('200 consumes of one key issued together: writes of at most 32 to its master, decided in order', async () => {
    const local = await startCluster();
    const client = createCluster({ rootNodes: [{ url: `redis://127.0.0.1:${local.ports[0]}` }] });
    await client.connect();
    const counted = countSocketWrites(local.ports);
    try {
      const policy = { algorithm: 'fixed-window', limit: 1000, windowMs: 60_000 } as const;
      const store = new RedisRateLimitStore({ client, prefix: newNamespace() });
      // The slots, the clock sample and the script are known from here on. Its batch's schedule
      // may still be under way as the 200 start: they must not join the batch after it.
      await store.consume('k', policy);
      counted.writes.length = 0;
      const decisions = await Promise.all(Array.from({ length: 200 }, () => store.consume('k', policy)));
      expect(decisions.map((d) => d.remaining)).toEqual(Array.from({ length: 200 }, (_, i) => 998 - i));
      expect(counted.writes.reduce((a, b) => a + b, 0)).toBe(200);
      expect(Math.max(...counted.writes)).toBeLessThanOrEqual(BATCH);
    } finally {
      counted.restore();
      await client.close();
      local.stop();
    }
  });
});

/** A connected node-redis client, a fresh prefix, and a rate-limit store on them whose first call (the clock sample) is made. */
async function warmedUp(limit: number) {
  const url = backends[0]!.url!;
  const prefix = newNamespace();
  const policy = { algorithm: 'fixed-window', limit, windowMs: 60_000 } as const;
  const client = createClient({ url });
  await client.connect();
  const limits = new RedisRateLimitStore({ client, prefix });
  await limits.consume('warm', policy); // the client's first script waits for a clock sample (TIME)
  return { url, prefix, policy, client, limits };
}

describe('node-redis: closing the client while calls wait for their batch', () => {
  it('the calls not yet handed over fail with UNAVAILABLE, and only the others take effect', async () => {
    const { url, prefix, policy, client, limits: store } = await warmedUp(10_000);
    const calls = Array.from({ length: 200 }, () => store.consume('k', policy));
    const closed = client.close();
    const settled = await Promise.allSettled(calls);
    await closed;
    const allowed = settled.filter((r) => r.status === 'fulfilled').length;
    const refused = settled.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(allowed).toBe(BATCH); // the first batch, already with the client: close() waits for it
    expect(new Set(refused.map((e) => e.code))).toEqual(new Set(['UNAVAILABLE']));
    expect(refused.every((e) => didNotRun(e))).toBe(true);
    const check = createClient({ url });
    await check.connect();
    try {
      const peek = await new RedisRateLimitStore({ client: check, prefix }).peek('k', policy);
      expect(peek.remaining).toBe(10_000 - allowed);
    } finally {
      await check.close();
    }
  });
});

describe('node-redis: a call whose time runs out while its command waits for a batch', () => {
  it('fails with TIMEOUT marked not run, is never sent, and changes nothing (consume, session set)', async () => {
    const { prefix, policy, client, limits } = await warmedUp(1_000_000);
    try {
      const sessions = new RedisSessionStore({ client, prefix });
      const crowd = Array.from({ length: 3000 }, () => limits.consume('crowd', policy));
      const deadline = Date.now() + 3;
      const late = await Promise.allSettled([
        limits.consume('victim', policy, { deadline }),
        sessions.set('victim', Buffer.from('x'), { ttlMs: 60_000, deadline }),
      ]);
      await Promise.all(crowd);
      for (const r of late) {
        expect(r).toMatchObject({ status: 'rejected', reason: { code: 'TIMEOUT' } });
        expect(didNotRun((r as PromiseRejectedResult).reason)).toBe(true);
      }
      expect((await limits.peek('victim', policy)).remaining).toBe(1_000_000);
      expect(await sessions.get('victim')).toBeUndefined();
    } finally {
      await client.close();
    }
  });
});
