// Exactly once across hang-ups: a client that closes its connection does not free its key;
// the key is held until the handler ends (bounded by maxHoldMs); 409 says when to retry.
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends, freshNamespace, type StoreSet } from '@stowage/test-stores';
import express from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idempotency } from '../src/express.js';
import { headerOf, listen, postJson, representation, type RawResponse, type Running } from './http.js';

await describeStoreBackends((backend) => {
  let set: StoreSet;
  let app: Running;
  let runs = 0;
  const effects: string[] = [];
  /** The body each run produced, by run number: what the client would have received. */
  const produced = new Map<number, Buffer>();
  const reports: string[] = [];
  let stuckRuns = 0;

  beforeAll(async () => {
    set = await backend.open(freshNamespace());
    const a = express();
    a.use(express.json());
    const store = set.idempotency();
    const onStoreError = (e: { code: string; message: string }) => void reports.push(`${e.code} ${e.message}`);
    // A lease shorter than the handler: only the heartbeat keeps the key.
    a.post('/orders', idempotency({ store, leaseMs: 300, onStoreError }), async (req, res) => {
      const run = ++runs;
      await sleep(150);
      effects.push(req.body.item); // the side effect, once per run
      await sleep(450);
      const payload = { run, item: req.body.item };
      produced.set(run, Buffer.from(JSON.stringify(payload)));
      res.status(201).set('X-Run', String(run)).json(payload);
    });
    // Never answers: holds its key at most maxHoldMs (+ one lease).
    a.post('/stuck', idempotency({ store, leaseMs: 200, maxHoldMs: 600, onStoreError }), () => void stuckRuns++);
    // The default lease (30 s) and a 409 that says how long a run takes, not the lease.
    a.post('/slow', idempotency({ store }), async (_req, res) => void (await sleep(400), res.status(201).json({ ok: true })));
    a.post(
      '/slower',
      idempotency({ store, inFlightRetryAfterMs: 2500 }),
      async (_req, res) => void (await sleep(400), res.status(201).json({})),
    );
    app = await listen(a);
  });
  afterAll(async () => {
    await app.close();
    await set.close();
  });

  it('a hang-up does not free the key: 409 while it runs, one side effect, later retries replay the first run byte for byte', async () => {
    const url = `${app.url}/orders`;
    const started = Date.now();
    const first = postJson(url, 'k-hangup', { item: 'book' }, { hangUpAfterMs: 100 });
    await expect(first).rejects.toThrow('the client hung up');
    // Once the run has begun (its side effect comes 150 ms in, its answer 600 ms in), not at a
    // set time: under load the first request may reach its handler late.
    while (runs === 0) await sleep(10);
    const during = await postJson(url, 'k-hangup', { item: 'book' });
    await sleep(Math.max(0, 1000 - (Date.now() - started))); // the first run answered at ~600 ms
    let settled = await postJson(url, 'k-hangup', { item: 'book' });
    for (let i = 0; settled.status === 409 && i < 100; i++) {
      await sleep(50); // a loaded machine: the run has not ended yet
      settled = await postJson(url, 'k-hangup', { item: 'book' });
    }
    const later = [settled, await postJson(url, 'k-hangup', { item: 'book' })];

    expect([during.status, ...later.map((r) => r.status)]).toEqual([409, 201, 201]);
    expect(JSON.parse(during.body.toString()).type).toBe('urn:stowage:problem:idempotency-request-in-flight');
    expect(runs).toBe(1);
    expect(effects).toEqual(['book']);
    for (const replay of later) {
      expect(headerOf(replay, 'idempotent-replayed')).toBe('true');
      expect(headerOf(replay, 'x-run')).toBe('1');
      expect(replay.body.equals(produced.get(1)!)).toBe(true);
    }
    expect(representation(later[1]!)).toEqual(representation(later[0]!));
    expect(reports).toEqual([]);
  });

  it('a handler that never ends holds its key for maxHoldMs, then the key lapses by itself (and that is reported)', async () => {
    const url = `${app.url}/stuck`;
    const started = Date.now();
    await expect(postJson(url, 'k-stuck', {}, { hangUpAfterMs: 50 })).rejects.toThrow('the client hung up');
    const statuses: number[] = [];
    let ranAgainAt = 0;
    // Past maxHoldMs (600) the heartbeat stops; the lease (200) then lapses.
    while (Date.now() - started < 3000 && stuckRuns < 2) {
      const r = postJson(url, 'k-stuck', {}, { hangUpAfterMs: 100 }).then(
        (res: RawResponse) => res.status,
        () => 0, // it ran: this handler never answers
      );
      statuses.push(await r);
      if (stuckRuns === 2) ranAgainAt = Date.now() - started;
      else await sleep(100);
    }
    expect(stuckRuns).toBe(2);
    expect(ranAgainAt).toBeGreaterThanOrEqual(600);
    expect(statuses.slice(0, -1).every((s) => s === 409)).toBe(true);
    expect(statuses.length).toBeGreaterThanOrEqual(4); // 409 at least until ~600 ms
    expect(
      reports.filter((r) => r.startsWith('CONFLICT @stowage/middleware idempotency: the handler did not end within maxHoldMs (600 ms)')),
    ).toHaveLength(1);
  });

  it('Retry-After of a 409 is the expected run time (inFlightRetryAfterMs, 1 s by default), not the lease', async () => {
    for (const [path, expected] of [
      ['/slow', '1'],
      ['/slower', '3'],
    ] as const) {
      const first = postJson(`${app.url}${path}`, `k-retry${path}`, {});
      await sleep(100);
      const during = await postJson(`${app.url}${path}`, `k-retry${path}`, {});
      expect(during.status).toBe(409);
      expect(headerOf(during, 'retry-after')).toBe(expected);
      expect((await first).status).toBe(201);
    }
  });
});

describe('idempotency options', () => {
  it('refuses a bad maxHoldMs or inFlightRetryAfterMs', () => {
    const store = { reserve: () => undefined } as never; // never called: the options are refused first
    expect(() => idempotency({ store, maxHoldMs: 0 })).toThrow(/options\.maxHoldMs/);
    expect(() => idempotency({ store, inFlightRetryAfterMs: 1.5 })).toThrow(/options\.inFlightRetryAfterMs/);
  });
});
