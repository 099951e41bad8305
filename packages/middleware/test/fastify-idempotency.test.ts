// The Fastify plugin on two replicas over one store, on every backend: the rules (400, 422,
// replay, principals), exactly one run among concurrent retries across both replicas with
// every answer the same bytes, keys freed by failures, kept by heartbeats and hang-ups.
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { IdempotencyStore } from '@stowage/core';
import { describeStoreBackends } from '@stowage/test-stores';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotency } from '../src/fastify.js';
import { listenFastify, openReplicas, untilNot409, type Replicas } from './fastify-app.js';
import { headerOf, postJson, representation, send, type RawResponse, type Running } from './http.js';

interface Seen {
  /** Handler runs by Idempotency-Key, over both replicas. */
  runs: Map<string, number>;
  effects: string[];
  /** The body each run of /slow produced, by run number. */
  produced: Map<number, Buffer>;
  reports: string[];
  /**
   * The first run of an order whose item is a key here (of /slower: whose Idempotency-Key) waits
   * for that promise before it answers; a second run does not wait, so a lost key shows at once.
   */
  gates: Map<string, Promise<void>>;
  /** Each run of /stuck: when it began, and how many lapses of a key had been reported by then. */
  stuck: { at: number; lapses: number }[];
}

const LAPSE = 'CONFLICT @stowage/middleware idempotency: the handler did not end within maxHoldMs (2700 ms)';

type OrderBody = { item?: string; delayMs?: number; fail?: boolean; refuse?: boolean };

async function replica(name: 'A' | 'B', store: IdempotencyStore, seen: Seen): Promise<Running> {
  const app = Fastify({ forceCloseConnections: true });
  const count = (key: unknown) => seen.runs.set(String(key), (seen.runs.get(String(key)) ?? 0) + 1).get(String(key))!;
  const onStoreError = (e: { code: string; message: string }) => void seen.reports.push(`${e.code} ${e.message}`);
  const passGate = async (name: string) => {
    const gate = seen.gates.get(name);
    seen.gates.delete(name);
    await gate;
  };
  // Each configuration in its own context: the plugin's hooks apply where it is registered.
  await app.register(async (api) => {
    await api.register(idempotency, {
      store,
      required: true,
      // Shorter than the runs of the heartbeat and hang-up tests (over two leases): only the heartbeat keeps their keys.
      // A 600 ms stall is survived (450 ms, surviving 300, lost a lease to a stall of the CI machine's PostgreSQL container).
      leaseMs: 900,
      principal: (request) => request.headers['x-user'] as string | undefined,
      onStoreError,
    });
    const order = async (request: { headers: Record<string, unknown>; body: unknown }, reply: import('fastify').FastifyReply) => {
      const run = count(request.headers['idempotency-key']);
      const { item = 'none', delayMs = 0, fail = false, refuse = false } = (request.body ?? {}) as OrderBody;
      await sleep(delayMs);
      await passGate(item);
      seen.effects.push(`${String(request.headers['idempotency-key'])} ${item}`);
      if (fail) throw new Error('the handler failed'); // Fastify answers 500
      if (refuse) throw Object.assign(new Error('no such product'), { statusCode: 400 });
      reply.code(201).header('x-replica', name);
      return { run, item, replica: name };
    };
    api.post('/orders', order);
    api.patch('/orders', order);
    api.post('/slow', async (request, reply) => {
      const run = count(request.headers['idempotency-key']);
      await sleep(150);
      seen.effects.push(`slow ${run}`);
      await sleep(2550); // three leases: only the heartbeat keeps its key
      const body = Buffer.from(JSON.stringify({ run, replica: name }));
      seen.produced.set(run, body);
      return reply.code(201).header('x-run', String(run)).type('application/json').send(body);
    });
    api.post('/hijacked', async (request, reply) => {
      const run = count(request.headers['idempotency-key']);
      reply.hijack();
      reply.raw.writeHead(201, { 'content-type': 'text/plain' }).end(`run ${run}`);
    });
    api.post('/stream', async (request, reply) => {
      count(request.headers['idempotency-key']);
      reply.type('text/plain').header('x-replica', name);
      return Readable.from(
        (async function* () {
          for (const part of ['one ', 'two ', 'three ', name]) {
            await sleep(100);
            yield Buffer.from(part);
          }
        })(),
      );
    });
  });
  await app.register(async (stuck) => {
    // 900 ms: a stall of a loaded machine (up to ~600 ms) between two heartbeats does not end the hold early.
    await stuck.register(idempotency, { store, leaseMs: 900, maxHoldMs: 2700, onStoreError });
    stuck.post('/stuck', (request) => {
      count(request.headers['idempotency-key']);
      seen.stuck.push({ at: Date.now(), lapses: seen.reports.filter((r) => r.startsWith(LAPSE)).length });
      return new Promise(() => {}); // never replies
    });
  });
  await app.register(async (slower) => {
    await slower.register(idempotency, { store, inFlightRetryAfterMs: 2500 });
    slower.post('/slower', async (request, reply) => {
      const key = String(request.headers['idempotency-key']);
      count(key);
      await passGate(key);
      return reply.code(201).send({});
    });
  });
  app.post('/plain', async (request) => ({ run: count(request.headers['idempotency-key']) })); // outside the plugin's contexts
  return listenFastify(app);
}

await describeStoreBackends((backend) => {
  let replicas: Replicas;
  let a: Running;
  let b: Running;
  const seen: Seen = { runs: new Map(), effects: [], produced: new Map(), reports: [], gates: new Map(), stuck: [] };
  beforeAll(async () => {
    replicas = await openReplicas(backend);
    a = await replica('A', replicas.stores[0].idempotency, seen);
    b = await replica('B', replicas.stores[1].idempotency, seen);
  });
  afterAll(async () => {
    await a.close();
    await b.close();
    await replicas.close();
  });

  const withoutReplayed = (r: RawResponse) => representation(r).filter(([n]) => n !== 'Idempotent-Replayed');
  const problemType = (r: RawResponse) => (JSON.parse(r.body.toString()) as { type: string }).type;

  it('400 without a key or with a malformed one; a retry on the other replica replays; 422 for another body, query or method', async () => {
    const missing = await send(`${a.url}/orders`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect([missing.status, problemType(missing)]).toEqual([400, 'urn:stowage:problem:idempotency-key-missing']);
    const malformed = await postJson(`${a.url}/orders`, '"abc', {});
    expect([malformed.status, problemType(malformed)]).toEqual([400, 'urn:stowage:problem:idempotency-key-invalid']);

    const first = await postJson(`${a.url}/orders`, 'k-rules', { item: 'book' }, { headers: { 'x-user': 'ada' } });
    const replay = await postJson(`${b.url}/orders`, 'k-rules', { item: 'book' }, { headers: { 'x-user': 'ada' } });
    expect([first.status, headerOf(first, 'idempotent-replayed'), headerOf(first, 'x-replica')]).toEqual([201, undefined, 'A']);
    expect([replay.status, headerOf(replay, 'idempotent-replayed'), headerOf(replay, 'x-replica')]).toEqual([201, 'true', 'A']);
    expect(withoutReplayed(replay)).toEqual(representation(first));
    expect(replay.body.equals(first.body)).toBe(true);

    const mismatches = [
      await postJson(`${b.url}/orders`, 'k-rules', { item: 'pen' }, { headers: { 'x-user': 'ada' } }),
      await postJson(`${a.url}/orders?x=1`, 'k-rules', { item: 'book' }, { headers: { 'x-user': 'ada' } }),
      await send(`${b.url}/orders`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json', 'idempotency-key': 'k-rules', 'x-user': 'ada' },
        body: JSON.stringify({ item: 'book' }),
      }),
    ];
    expect(mismatches.map((r) => [r.status, problemType(r)])).toEqual(Array(3).fill([422, 'urn:stowage:problem:idempotency-key-reused']));
    // Another principal has its own keys.
    expect((await postJson(`${b.url}/orders`, 'k-rules', { item: 'book' }, { headers: { 'x-user': 'bob' } })).status).toBe(201);
    expect(seen.runs.get('k-rules')).toBe(2);
    // A route outside the plugin's context is not covered: it runs every time.
    expect([(await postJson(`${a.url}/plain`, 'k-plain', {})).status, (await postJson(`${b.url}/plain`, 'k-plain', {})).status]).toEqual([
      200, 200,
    ]);
    expect(seen.runs.get('k-plain')).toBe(2);
  });

  it('16 concurrent retries of one key over both replicas: the handler runs once, every answer is the same bytes', async () => {
    const K = 16;
    // The winner answers only once every other client has met its run (a 409), however slowly
    // the requests arrive: so each of them really ran alongside it.
    let open!: () => void;
    seen.gates.set('race', new Promise<void>((resolve) => (open = resolve)));
    let refusedFirst = 0;
    const clients = await Promise.all(
      Array.from({ length: K }, (_, i) => {
        let attempts = 0;
        return untilNot409(async () => {
          const answer = await postJson(`${i % 2 === 0 ? a.url : b.url}/orders`, 'k-race', { item: 'race', delayMs: 100 });
          if (attempts++ === 0 && answer.status === 409 && ++refusedFirst === K - 1) open();
          return answer;
        });
      }),
    );
    expect(seen.runs.get('k-race')).toBe(1);
    expect(seen.effects.filter((e) => e === 'k-race race')).toHaveLength(1);
    const fresh = clients.filter((c) => headerOf(c.answer, 'idempotent-replayed') === undefined);
    expect(fresh).toHaveLength(1);
    expect(fresh[0]!.conflicts).toHaveLength(0); // the winner never waited
    for (const { answer, conflicts } of clients) {
      expect(answer.status).toBe(201);
      expect(answer.body.equals(fresh[0]!.answer.body)).toBe(true);
      expect(withoutReplayed(answer)).toEqual(representation(fresh[0]!.answer));
      if (answer !== fresh[0]!.answer) expect(conflicts.length).toBeGreaterThanOrEqual(1); // each ran alongside the winner
      for (const c of conflicts) {
        expect([headerOf(c, 'retry-after'), problemType(c)]).toEqual(['1', 'urn:stowage:problem:idempotency-request-in-flight']);
      }
    }
  });

  it('a handler that fails (500) frees its key, so the retry runs again; a 4xx reply is kept and replayed', async () => {
    const failed = [
      await postJson(`${a.url}/orders`, 'k-fail', { fail: true }),
      await postJson(`${b.url}/orders`, 'k-fail', { fail: true }),
    ];
    expect(failed.map((r) => [r.status, headerOf(r, 'idempotent-replayed')])).toEqual([
      [500, undefined],
      [500, undefined],
    ]);
    expect(seen.runs.get('k-fail')).toBe(2);
    const refused = [
      await postJson(`${a.url}/orders`, 'k-refuse', { refuse: true }),
      await postJson(`${b.url}/orders`, 'k-refuse', { refuse: true }),
    ];
    expect(refused.map((r) => [r.status, headerOf(r, 'idempotent-replayed')])).toEqual([
      [400, undefined],
      [400, 'true'],
    ]);
    expect(refused[1]!.body.equals(refused[0]!.body)).toBe(true);
    expect(seen.runs.get('k-refuse')).toBe(1);
  });

  it('a hijacked reply is not recorded: its key is freed when it finishes, so a retry runs again', async () => {
    const first = await postJson(`${a.url}/hijacked`, 'k-hijack', {});
    const { answer } = await untilNot409(() => postJson(`${b.url}/hijacked`, 'k-hijack', {}));
    expect([first.status, first.body.toString(), answer.status, answer.body.toString()]).toEqual([201, 'run 1', 201, 'run 2']);
    expect(headerOf(answer, 'idempotent-replayed')).toBeUndefined();
    expect(seen.runs.get('k-hijack')).toBe(2);
  });

  it('keeps the key of a handler that outlives two leases (heartbeat): 409 on the other replica, then the replay', async () => {
    let open!: () => void;
    seen.gates.set('heartbeat', new Promise<void>((resolve) => (open = resolve)));
    const slow = postJson(`${a.url}/orders`, 'k-heartbeat', { item: 'heartbeat' });
    // Counted from the run's start, not the request's: under load the request may reach its handler late.
    while (seen.runs.get('k-heartbeat') === undefined) await sleep(10);
    await sleep(2000); // more than two leases (900 ms); the run goes on until the gate opens
    const during = await postJson(`${b.url}/orders`, 'k-heartbeat', { item: 'heartbeat' });
    open();
    const first = await slow;
    const after = await postJson(`${b.url}/orders`, 'k-heartbeat', { item: 'heartbeat' });
    expect([during.status, first.status, after.status, headerOf(after, 'idempotent-replayed')]).toEqual([409, 201, 201, 'true']);
    expect(seen.runs.get('k-heartbeat')).toBe(1);
  });

  it('a hang-up does not free the key: 409 on the other replica while it runs, one side effect, then the first run byte for byte', async () => {
    const started = Date.now();
    await expect(postJson(`${a.url}/slow`, 'k-hangup', {}, { hangUpAfterMs: 100 })).rejects.toThrow('the client hung up');
    while (seen.runs.get('k-hangup') === undefined) await sleep(10); // once the run has begun, not at a set time
    const during = await postJson(`${b.url}/slow`, 'k-hangup', {});
    await sleep(Math.max(0, 3000 - (Date.now() - started))); // the first run answered at ~2700 ms
    const { answer } = await untilNot409(() => postJson(`${b.url}/slow`, 'k-hangup', {})); // a loaded machine: it may not have ended
    const later = [answer, await postJson(`${a.url}/slow`, 'k-hangup', {})];
    expect([during.status, ...later.map((r) => r.status)]).toEqual([409, 201, 201]);
    expect(seen.runs.get('k-hangup')).toBe(1);
    expect(seen.effects.filter((e) => e.startsWith('slow'))).toEqual(['slow 1']);
    for (const replay of later) {
      expect([headerOf(replay, 'idempotent-replayed'), headerOf(replay, 'x-run')]).toEqual(['true', '1']);
      expect(replay.body.equals(seen.produced.get(1)!)).toBe(true);
    }
    expect(withoutReplayed(later[1]!)).toEqual(withoutReplayed(later[0]!));
    expect(seen.reports).toEqual([]);
  });

  it('a hang-up mid-stream: the stream is still read to its end and kept, and the retry gets all of it', async () => {
    await expect(postJson(`${a.url}/stream`, 'k-stream', {}, { hangUpAfterMs: 150 })).rejects.toThrow('the client hung up');
    const { answer, conflicts } = await untilNot409(() => postJson(`${b.url}/stream`, 'k-stream', {}));
    expect(conflicts.length).toBeGreaterThanOrEqual(1); // it was still streaming when the retry came
    expect([answer.status, headerOf(answer, 'idempotent-replayed'), headerOf(answer, 'x-replica')]).toEqual([200, 'true', 'A']);
    expect(answer.body.toString()).toBe('one two three A');
    expect(seen.runs.get('k-stream')).toBe(1);
    // A stream read in full is replayed byte for byte too.
    const whole = await postJson(`${b.url}/stream`, 'k-stream-2', {});
    const again = await postJson(`${a.url}/stream`, 'k-stream-2', {});
    expect([whole.body.toString(), again.body.equals(whole.body)]).toEqual(['one two three B', true]);
    expect(withoutReplayed(again)).toEqual(representation(whole));
  });

  it('a handler that never replies holds its key for maxHoldMs, then the key lapses by itself (and that is reported)', async () => {
    const started = Date.now();
    // The hang-ups leave time for a loaded machine: to send the request before it, and to answer a 409 within it.
    await expect(postJson(`${a.url}/stuck`, 'k-stuck', {}, { hangUpAfterMs: 500 })).rejects.toThrow('the client hung up');
    while (seen.stuck.length === 0) await sleep(10); // the first run has begun: what follows meets it
    const statuses: number[] = [];
    // Past maxHoldMs (2700) the heartbeat stops; the lease (900) then lapses.
    while (Date.now() - started < 10_000 && seen.stuck.length < 2) {
      const url = statuses.length % 2 === 0 ? b.url : a.url;
      statuses.push(
        await postJson(`${url}/stuck`, 'k-stuck', {}, { hangUpAfterMs: 2000 }).then(
          (r) => r.status,
          () => 0, // it ran: this handler never replies
        ),
      );
      if (seen.stuck.length < 2) await sleep(100);
    }
    expect(seen.runs.get('k-stuck')).toBe(2);
    expect(seen.stuck[1]!.at - started).toBeGreaterThanOrEqual(2700); // when it ran again, by the handler's own clock
    expect(statuses.slice(0, -1).every((s) => s === 409)).toBe(true);
    expect(statuses.length).toBeGreaterThanOrEqual(4); // several 409s while it was held
    // The lapse was reported once, before the key was taken again (the second run, which never
    // replies either, reports its own lapse later: counted here, the test's pace would decide).
    expect(seen.stuck.map((r) => r.lapses)).toEqual([0, 1]);
  });

  it('Retry-After of a 409 is inFlightRetryAfterMs (1 s by default), not the lease', async () => {
    for (const [path, expected] of [
      ['/orders', '1'],
      ['/slower', '3'],
    ] as const) {
      const key = `k-retry${path}`;
      let open!: () => void;
      seen.gates.set(key, new Promise<void>((resolve) => (open = resolve)));
      const first = postJson(`${a.url}${path}`, key, { item: key });
      // Once the first run has begun, not at a set time: under load its request may reach the handler late.
      // It answers only after the 409, however slowly that comes.
      while (seen.runs.get(key) === undefined) await sleep(10);
      const during = await postJson(`${b.url}${path}`, key, { item: key });
      open();
      expect([during.status, headerOf(during, 'retry-after'), (await first).status]).toEqual([409, expected, 201]);
      expect(seen.runs.get(key)).toBe(1);
    }
  });
});

describe('idempotency options', () => {
  it('refuses a principal that is not a function, and a bad maxHoldMs, when the plugin is registered', async () => {
    const store = { reserve: () => undefined } as never; // never called: the options are refused first
    await expect(
      Fastify()
        .register(idempotency, { store, principal: 'ada' as never })
        .ready(),
    ).rejects.toThrow(/options\.principal/);
    await expect(Fastify().register(idempotency, { store, maxHoldMs: 0 }).ready()).rejects.toThrow(/options\.maxHoldMs/);
  });
});
