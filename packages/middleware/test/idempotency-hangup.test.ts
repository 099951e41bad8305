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
  const lapse = 'CONFLICT @stowage/middleware idempotency: the handler did not end within maxHoldMs (2700 ms)';
  /** Each run of /stuck: when it began, and how many lapses of a key had been reported by then. */
  const stuckRuns: { at: number; lapses: number }[] = [];
  /** Runs of /slow and /slower by path; each waits for the gate of its path, if one is set (once). */
  const begun = new Map<string, number>();
  const gates = new Map<string, Promise<void>>();
  const gated = async (path: string) => {
    begun.set(path, (begun.get(path) ?? 0) + 1);
    const gate = gates.get(path);
    gates.delete(path);
    await gate;
  };

  beforeAll(async () => {
    set = await backend.open(freshNamespace());
    const a = express();
    a.use(express.json());
    const store = set.idempotency();
    const onStoreError = (e: { code: string; message: string }) => void reports.push(`${e.code} ${e.message}`);
    // A lease shorter than the handler (under half of it): only the heartbeat keeps the key.
    // 1,300 ms: a stall of a loaded machine between two heartbeats (one CI run saw the 900 ms
    // lease lapse on postgres:15 with every file running) does not let it lapse.
    a.post('/orders', idempotency({ store, leaseMs: 1300, onStoreError }), async (req, res) => {
      const run = ++runs;
      await sleep(150);
      effects.push(req.body.item); // the side effect, once per run
      await sleep(2550);
      const payload = { run, item: req.body.item };
      produced.set(run, Buffer.from(JSON.stringify(payload)));
      res.status(201).set('X-Run', String(run)).json(payload);
    });
    // Never answers: holds its key at most maxHoldMs (+ one lease).
    a.post(
      '/stuck',
      idempotency({ store, leaseMs: 900, maxHoldMs: 2700, onStoreError }),
      () => void stuckRuns.push({ at: Date.now(), lapses: reports.filter((r) => r.startsWith(lapse)).length }),
    );
    // The default lease (30 s) and a 409 that says how long a run takes, not the lease.
    a.post('/slow', idempotency({ store }), async (_req, res) => void (await gated('/slow'), res.status(201).json({ ok: true })));
    a.post(
      '/slower',
      idempotency({ store, inFlightRetryAfterMs: 2500 }),
      async (_req, res) => void (await gated('/slower'), res.status(201).json({})),
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
    // Once the run has begun (its side effect comes 150 ms in, its answer 2700 ms in), not at a
    // set time: under load the first request may reach its handler late.
    while (runs === 0) await sleep(10);
    const during = await postJson(url, 'k-hangup', { item: 'book' });
    await sleep(Math.max(0, 3000 - (Date.now() - started))); // the first run answered at ~2700 ms
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
    // The hang-ups leave time for a loaded machine: to send the request before it, and to answer a 409 within it.
    await expect(postJson(url, 'k-stuck', {}, { hangUpAfterMs: 500 })).rejects.toThrow('the client hung up');
    while (stuckRuns.length === 0) await sleep(10); // the first run has begun: what follows meets it
    const statuses: number[] = [];
    // Past maxHoldMs (2700) the heartbeat stops; the lease (900) then lapses.
    while (Date.now() - started < 10_000 && stuckRuns.length < 2) {
      const r = postJson(url, 'k-stuck', {}, { hangUpAfterMs: 2000 }).then(
        (res: RawResponse) => res.status,
        () => 0, // it ran: this handler never answers
      );
      statuses.push(await r);
      if (stuckRuns.length < 2) await sleep(100);
    }
    expect(stuckRuns).toHaveLength(2);
    expect(stuckRuns[1]!.at - started).toBeGreaterThanOrEqual(2700); // when it ran again, by the handler's own clock
    expect(statuses.slice(0, -1).every((s) => s === 409)).toBe(true);
    expect(statuses.length).toBeGreaterThanOrEqual(4); // several 409s while it was held
    // The lapse was reported once, before the key was taken again (the second run, which never
    // ends either, reports its own lapse later: counted here, the test's pace would decide).
    expect(stuckRuns.map((r) => r.lapses)).toEqual([0, 1]);
  });

  it('Retry-After of a 409 is the expected run time (inFlightRetryAfterMs, 1 s by default), not the lease', async () => {
    for (const [path, expected] of [
      ['/slow', '1'],
      ['/slower', '3'],
    ] as const) {
      let open!: () => void;
      gates.set(path, new Promise<void>((resolve) => (open = resolve)));
      const first = postJson(`${app.url}${path}`, `k-retry${path}`, {});
      // Once the first run has begun, not at a set time: under load its request may reach the handler late.
      // It answers only after the 409, however slowly that comes.
      while (begun.get(path) === undefined) await sleep(10);
      const during = await postJson(`${app.url}${path}`, `k-retry${path}`, {});
      open();
      expect([during.status, headerOf(during, 'retry-after'), (await first).status]).toEqual([409, expected, 201]);
      expect(begun.get(path)).toBe(1);
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
