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
  /** A run of an order whose item is a key here waits for that promise before it answers. */
  gates: Map<string, Promise<void>>;
}

type OrderBody = { item?: string; delayMs?: number; fail?: boolean; refuse?: boolean };

async function replica(name: 'A' | 'B', store: IdempotencyStore, seen: Seen): Promise<Running> {
  const app = Fastify({ forceCloseConnections: true });
  const count = (key: unknown) => seen.runs.set(String(key), (seen.runs.get(String(key)) ?? 0) + 1).get(String(key))!;
  const onStoreError = (e: { code: string; message: string }) => void seen.reports.push(`${e.code} ${e.message}`);
  // Each configuration in its own context: the plugin's hooks apply where it is registered.
  await app.register(async (api) => {
    await api.register(idempotency, {
      store,
      required: true,
      // Shorter than the 1 s handler of the heartbeat test: only the heartbeat keeps its key. A 600 ms stall of the
      // backend is survived (450 ms, surviving 300, lost a lease to a stall of the CI machine's PostgreSQL container).
      leaseMs: 900,
      principal: (request) => request.headers['x-user'] as string | undefined,
      onStoreError,
    });
    const order = async (request: { headers: Record<string, unknown>; body: unknown }, reply: import('fastify').FastifyReply) => {
      const run = count(request.headers['idempotency-key']);
      const { item = 'none', delayMs = 0, fail = false, refuse = false } = (request.body ?? {}) as OrderBody;
      await sleep(delayMs);
      await seen.gates.get(item);
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
      await sleep(450);
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
    await stuck.register(idempotency, { store, leaseMs: 200, maxHoldMs: 600, onStoreError });
    stuck.post('/stuck', (request) => {
      count(request.headers['idempotency-key']);
      return new Promise(() => {}); // never replies
    });
  });
  await app.register(async (slower) => {
    await slower.register(idempotency, { store, inFlightRetryAfterMs: 2500 });
    slower.post('/slower', async (_request, reply) => void (await sleep(400), reply.code(201).send({})));
  });
  app.post('/plain', async (request) => ({ run: count(request.headers['idempotency-key']) })); // outside the plugin's contexts
  return listenFastify(app);
}

await describeStoreBackends((backend) => {
  let replicas: Replicas;
  let a: Running;
  let b: Running;
  const seen: Seen = { runs: new Map(), effects: [], produced: new Map(), reports: [], gates: new Map() };
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
    const slow = postJson(`${a.url}/orders`, 'k-heartbeat', { item: 'slow', delayMs: 1000 });
    await sleep(700); // more than two leases (300 ms)
    const during = await postJson(`${b.url}/orders`, 'k-heartbeat', { item: 'slow', delayMs: 1000 });
    const first = await slow;
    const after = await postJson(`${b.url}/orders`, 'k-heartbeat', { item: 'slow', delayMs: 1000 });
    expect([during.status, first.status, after.status, headerOf(after, 'idempotent-replayed')]).toEqual([409, 201, 201, 'true']);
    expect(seen.runs.get('k-heartbeat')).toBe(1);
  });

  it('a hang-up does not free the key: 409 on the other replica while it runs, one side effect, then the first run byte for byte', async () => {
    const started = Date.now();
    await expect(postJson(`${a.url}/slow`, 'k-hangup', {}, { hangUpAfterMs: 100 })).rejects.toThrow('the client hung up');
    while (seen.runs.get('k-hangup') === undefined) await sleep(10); // once the run has begun, not at a set time
    const during = await postJson(`${b.url}/slow`, 'k-hangup', {});
    await sleep(Math.max(0, 1000 - (Date.now() - started))); // the first run answered at ~600 ms
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
    await expect(postJson(`${a.url}/stuck`, 'k-stuck', {}, { hangUpAfterMs: 50 })).rejects.toThrow('the client hung up');
    const statuses: number[] = [];
    let ranAgainAt = 0;
    while (Date.now() - started < 3000 && (seen.runs.get('k-stuck') ?? 0) < 2) {
      const url = statuses.length % 2 === 0 ? b.url : a.url;
      statuses.push(
        await postJson(`${url}/stuck`, 'k-stuck', {}, { hangUpAfterMs: 100 }).then(
          (r) => r.status,
          () => 0,
        ),
      );
      if (seen.runs.get('k-stuck') === 2) ranAgainAt = Date.now() - started;
      else await sleep(100);
    }
    expect(seen.runs.get('k-stuck')).toBe(2);
    expect(ranAgainAt).toBeGreaterThanOrEqual(600);
    expect(statuses.slice(0, -1).every((s) => s === 409)).toBe(true);
    expect(statuses.length).toBeGreaterThanOrEqual(4); // 409 at least until ~600 ms
    const lapsed = 'CONFLICT @stowage/middleware idempotency: the handler did not end within maxHoldMs (600 ms)';
    expect(seen.reports.filter((r) => r.startsWith(lapsed))).toHaveLength(1);
  });

  it('Retry-After of a 409 is inFlightRetryAfterMs (1 s by default), not the lease', async () => {
    for (const [path, expected] of [
      ['/orders', '1'],
      ['/slower', '3'],
    ] as const) {
      const first = postJson(`${a.url}${path}`, `k-retry${path}`, { delayMs: 400 });
      await sleep(100);
      const during = await postJson(`${b.url}${path}`, `k-retry${path}`, { delayMs: 400 });
      expect([during.status, headerOf(during, 'retry-after')]).toEqual([409, expected]);
      expect((await first).status).toBe(201);
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
