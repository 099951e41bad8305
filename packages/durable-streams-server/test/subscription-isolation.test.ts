import { createSubscriptionStore, type SessionStore } from '@stowage/core';
import { formatOffset } from '@stowage/core/adapter-kit';
import { MemorySessionStore, MemoryStreamStore } from '@stowage/stores-memory';
import { afterEach, describe, expect, it } from 'vitest';
import { Receiver } from './scripted-receiver.js';
import { eventuallyValue, getJson, postJson, putJson, type SubscriptionServer, startSubscriptionServer } from './subscription-server.js';

// One subscription that cannot be updated must not cost the others their wakes, and names a
// client chooses (`__proto__`, `toString`, `constructor`) are names like any other. These run
// on memory: the subscription store is core's, the same over every backend's session store;
// its session store is given an 8 KiB record limit, so one subscription's document fills up.

const servers: SubscriptionServer[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
});

let sessions: MemorySessionStore;

async function serve(maxDataBytes = 1024 * 1024, retryBaseMs?: number): Promise<SubscriptionServer> {
  const store = new MemoryStreamStore();
  sessions = new MemorySessionStore({ maxDataBytes });
  const s = await startSubscriptionServer(
    {
      store,
      sessions,
      close: async () => {
        await store.close();
        await sessions.close();
      },
    },
    retryBaseMs === undefined ? {} : { store: { retryBaseMs } },
  );
  servers.push(s);
  return s;
}

const putText = (body: string): RequestInit => ({ method: 'PUT', headers: { 'content-type': 'text/plain' }, body });
const wakeStream = (s: SubscriptionServer, name: string) =>
  fetch(s.url(name), { method: 'PUT', headers: { 'content-type': 'application/json' } }).then((r) => r.status);

describe('subscriptions: one failing subscription', () => {
  it("another subscription of the stream still gets its wake event when one's document is full", async () => {
    const s = await serve(8 * 1024);
    expect([await wakeStream(s, 'wakes-full'), await wakeStream(s, 'wakes-v')]).toEqual([201, 201]);
    expect(
      (await fetch(s.url('__ds/subscriptions/full'), putJson({ type: 'pull-wake', pattern: 't/**', wake_stream: 'wakes-full' }))).status,
    ).toBe(201);
    // Its document links every stream it matches: long names fill its 8 KiB.
    let i = 0;
    while (!s.logs.some((l) => l.includes('noteAppend'))) {
      expect((await fetch(s.url(`t/b${i++}/${'y'.repeat(400)}`), putText('x'))).status).toBe(201);
      expect(i).toBeLessThan(100);
    }
    const victim = `t/victim/${'z'.repeat(400)}`;
    expect(
      (await fetch(s.url('__ds/subscriptions/v'), putJson({ type: 'pull-wake', streams: [victim], wake_stream: 'wakes-v' }))).status,
    ).toBe(201);
    const failures = s.logs.length;
    expect((await fetch(s.url(victim), putText('job'))).status).toBe(201);
    expect(s.logs.slice(failures).some((l) => / noteAppend|noteAppend\(/.test(l) && l.includes('details.started'))).toBe(true);
    const events = await eventuallyValue(
      () => getJson(s.url('wakes-v?offset=-1')),
      (e: unknown[]) => e.length === 1,
      5000,
    );
    expect(events[0]).toMatchObject({ type: 'wake', subscription_id: 'v', stream: victim });
  });
});

describe('subscriptions: one that cannot be updated when work comes due', () => {
  it('holds back no other: a failed webhook delivery behind it is still retried', async () => {
    const receiver = await Receiver.start([{ status: 500 }, { status: 200, body: { done: true } }]);
    try {
      const s = await serve(8 * 1024, 100);
      expect(await wakeStream(s, 'wakes-full')).toBe(201);
      // First in the index: a pull-wake whose links fill its document; its wake starts small.
      const full = s.url('__ds/subscriptions/full');
      expect(
        (await fetch(full, putJson({ type: 'pull-wake', pattern: 't/**', wake_stream: 'wakes-full', lease_ttl_ms: 1000 }))).status,
      ).toBe(201);
      let i = 0;
      while (!s.logs.some((l) => l.includes('noteAppend'))) {
        expect((await fetch(s.url(`t/b${i++}/${'y'.repeat(400)}`), putText('x'))).status).toBe(201);
        expect(i).toBeLessThan(100);
      }
      // Claimed, its lease runs out: ending that wake starts one that names every link, too large.
      expect((await fetch(`${full}/claim`, postJson({ worker: 'w' }))).status).toBe(200);
      await eventuallyValue(
        async () => s.logs.filter((l) => l.includes('takeDue')).length,
        (n) => n > 0,
        5000,
      );
      expect(s.logs.find((l) => l.includes('takeDue'))).toContain('details.started');
      const hook = s.url('__ds/subscriptions/hook');
      expect((await fetch(hook, putJson({ type: 'webhook', streams: ['l1'], webhook: { url: receiver.url } }))).status).toBe(201);
      expect((await fetch(s.url('l1'), putText('job'))).status).toBe(201);
      // The first POST fails (500); its retry comes from takeDue, which also meets `full`.
      await receiver.until(() => receiver.deliveries.length >= 2, 8000);
      expect(receiver.deliveries.length).toBeGreaterThanOrEqual(2);
    } finally {
      await receiver.close();
    }
  });
});

describe('subscriptions: a PUT refused as too large', () => {
  it('leaves no entry in the index of subscriptions behind it', async () => {
    const s = await serve(8 * 1024);
    expect(await wakeStream(s, 'wakes')).toBe(201);
    const indexIds = async () => {
      const record = await sessions.get('ds-subscriptions:index');
      return record === undefined ? [] : Object.keys(JSON.parse(Buffer.from(record.data).toString('utf8')).subs);
    };
    expect(
      (await fetch(s.url('__ds/subscriptions/small'), putJson({ type: 'pull-wake', streams: ['a'], wake_stream: 'wakes' }))).status,
    ).toBe(201);
    // Its index entry fits (5 KiB), its document (the definition and a link per stream) does not.
    const streams = Array.from({ length: 12 }, (_, i) => `big/${i}/${'q'.repeat(400)}`);
    const big = await fetch(s.url('__ds/subscriptions/big'), putJson({ type: 'pull-wake', streams, wake_stream: 'wakes' }));
    expect(big.status).toBe(413);
    expect(await indexIds()).toEqual(['small']);
    expect((await fetch(s.url('__ds/subscriptions/big'))).status).toBe(404);
  });
});

describe('subscriptions: names that are properties of every object', () => {
  const NAMES = ['__proto__', 'toString', 'constructor', 'valueOf', 'hasOwnProperty'];

  it('as stream names and as subscription ids: linked, woken, answered, and Object.prototype untouched', async () => {
    const s = await serve();
    expect(await wakeStream(s, 'wakes')).toBe(201);
    for (const id of NAMES) {
      const put = await fetch(
        s.url(`__ds/subscriptions/${id}`),
        putJson({ type: 'pull-wake', streams: [`x/${id}`, id], wake_stream: 'wakes' }),
      );
      expect(put.status, id).toBe(201);
    }
    expect((await fetch(s.url('__ds/subscriptions/glob'), putJson({ type: 'pull-wake', pattern: '*', wake_stream: 'wakes' }))).status).toBe(
      201,
    );
    for (const name of NAMES) expect((await fetch(s.url(name), putText('job'))).status, name).toBe(201);
    const events = await eventuallyValue(
      () => getJson(s.url('wakes?offset=-1')),
      (e: unknown[]) => e.length === NAMES.length + 1,
      5000,
    );
    expect(new Set(events.map((e: { subscription_id: string }) => e.subscription_id))).toEqual(new Set([...NAMES, 'glob']));
    for (const id of NAMES) {
      const sub = await getJson(s.url(`__ds/subscriptions/${id}`));
      expect(sub.streams.map((l: { path: string }) => l.path).sort(), id).toEqual([id, `x/${id}`].sort());
    }
    expect(s.logs.filter((l) => / 5\d\d /.test(l) || l.includes('noteAppend'))).toEqual([]);
    const plain = {} as Record<string, unknown>;
    expect([plain.explicit, plain.glob, plain.tail, plain.streams]).toEqual([undefined, undefined, undefined, undefined]);
  });
});

/**
 * `inner` seen through a window that holds the first call of `method` whose arguments `hold`
 * picks until `release()`: a real store, one step of a concurrent caller delayed.
 */
function holdingOnce(inner: SessionStore, method: 'get' | 'set', hold: (...args: never[]) => boolean) {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => (release = resolve));
  let held = false;
  const sessions = new Proxy(inner, {
    get(target, name, receiver) {
      const real = Reflect.get(target, name, receiver);
      if (name !== method) return real;
      return async (...args: never[]) => {
        if (!held && hold(...args)) {
          held = true;
          await gate;
        }
        return (real as (...a: never[]) => Promise<unknown>).apply(target, args);
      };
    },
  }) as SessionStore;
  return {
    sessions,
    release,
    held: () =>
      eventuallyValue(
        async () => held,
        (h) => h,
        5000,
      ),
  };
}

const INDEX = 'ds-subscriptions:index';

describe('subscriptions: two PUTs of one id', () => {
  const def = { type: 'pull-wake', wakeStream: 'w', leaseTtlMs: 30_000 } as const;

  it('one too large: the one created keeps its own index entry, and is woken', async () => {
    const inner = new MemorySessionStore({ maxDataBytes: 8 * 1024 });
    // The too-large document's write waits until the other PUT has made its document.
    const w = holdingOnce(inner, 'set', (id: string, data: Uint8Array) => id === 'ds-subscriptions:sub:x' && data.byteLength > 8 * 1024);
    const subs = createSubscriptionStore({ sessions: w.sessions });
    const big = subs.put('x', { ...def, streams: Array.from({ length: 12 }, (_, i) => `big/${i}/${'q'.repeat(400)}`) });
    await w.held();
    expect((await subs.put('x', { ...def, streams: ['s1'] })).status).toBe('created');
    w.release();
    await expect(big).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    const index = JSON.parse(Buffer.from((await inner.get('ds-subscriptions:index'))!.data).toString('utf8'));
    expect(index.subs.x).toEqual({ streams: ['s1'] });
    expect((await subs.noteAppend('s1', formatOffset(1))).map((n) => n.subscription.id)).toEqual(['x']);
    await inner.close();
  });

  it('one answered 409 (another definition made first): the entry is as the document says', async () => {
    const inner = new MemorySessionStore();
    // The first PUT's look at the document waits until the second PUT has made it.
    const w = holdingOnce(inner, 'get', (id: string) => id === 'ds-subscriptions:sub:y');
    const subs = createSubscriptionStore({ sessions: w.sessions });
    const first = subs.put('y', { ...def, streams: ['other'] });
    await w.held();
    expect((await subs.put('y', { ...def, streams: ['s2'] })).status).toBe('created');
    w.release();
    expect((await first).status).toBe('conflict');
    expect((await subs.noteAppend('s2', formatOffset(1))).map((n) => n.subscription.id)).toEqual(['y']);
    await inner.close();
  });

  it('an addStreams between a creating PUT and its index step keeps the added stream', async () => {
    const inner = new MemorySessionStore();
    let indexReads = 0;
    // The creating PUT's second read of the index (its step after the document) waits.
    const w = holdingOnce(inner, 'get', (id: string) => id === INDEX && ++indexReads === 2);
    const subs = createSubscriptionStore({ sessions: w.sessions });
    const creating = subs.put('a', { ...def, streams: ['s1'] });
    await w.held();
    expect((await subs.put('a', { ...def, streams: ['s1'] })).status).toBe('exists');
    expect(await subs.addStreams('a', ['added'])).toBe(true);
    w.release();
    expect((await creating).status).toBe('created');
    expect((await subs.noteAppend('added', formatOffset(1))).map((n) => n.subscription.id)).toEqual(['a']);
    await inner.close();
  });

  it('one whose document was written but could not be indexed: answered 413, its document gone, the other woken', async () => {
    const inner = new MemorySessionStore({ maxDataBytes: 8 * 1024 });
    const w = holdingOnce(inner, 'get', (id: string) => id === 'ds-subscriptions:sub:b');
    const subs = createSubscriptionStore({ sessions: w.sessions });
    // The index near its limit: what the large PUT adds to it does not fit, its document does.
    for (let i = 0; i < 6; i++) await subs.put(`filler${i}`, { ...def, streams: [`f/${'f'.repeat(960)}${i}`] });
    const small = subs.put('b', { ...def, streams: ['small'] });
    await w.held();
    const large = { ...def, streams: Array.from({ length: 4 }, (_, i) => `big/${i}/${'q'.repeat(600)}`) };
    await expect(subs.put('b', large)).rejects.toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    w.release();
    expect((await small).status).toBe('created');
    expect((await subs.get('b'))?.streams).toEqual(['small']);
    expect((await subs.noteAppend('small', formatOffset(1))).map((n) => n.subscription.id)).toEqual(['b']);
    await inner.close();
  });

  it('a DELETE whose index step comes after a new PUT of the id: the new one keeps its entry', async () => {
    const inner = new MemorySessionStore();
    let deleting = false;
    const w = holdingOnce(inner, 'get', (id: string) => deleting && id === INDEX);
    const subs = createSubscriptionStore({ sessions: w.sessions });
    expect((await subs.put('c', { ...def, streams: ['s3'] })).status).toBe('created');
    deleting = true;
    const deleted = subs.delete('c');
    await w.held();
    expect((await subs.put('c', { ...def, streams: ['s3'] })).status).toBe('created');
    w.release();
    expect(await deleted).toBe(true);
    expect((await subs.noteAppend('s3', formatOffset(1))).map((n) => n.subscription.id)).toEqual(['c']);
    await inner.close();
  });
});
