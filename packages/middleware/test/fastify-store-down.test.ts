// The Fastify plugins when the backend stops answering (SQLite, PostgreSQL, Redis; memory has
// no backend to pause): 503 with Retry-After at the deadline, before the backend is back,
// and the call it could not finish never takes effect later (the same request then runs
// once, a consuming token is not spent); failOpen lets requests through; a store that fails
// as the handler ends still lets the response out, and the retry never runs the handler again.
import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends, type Pause } from '@stowage/test-stores';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { csrf, idempotency } from '../src/fastify.js';
import { listenFastify, openReplicas, type Replicas } from './fastify-app.js';
import { headerOf, postJson, send, type RawResponse, type Running } from './http.js';

const PAUSE_MS = 2500; // a call of up to TIMEOUT_MS fits in it, with room to spare
const TIMEOUT_MS = 1000;

await describeStoreBackends(
  (backend) => {
    let replicas: Replicas;
    /** The short deadline under test: the calls made while the backend is paused (and /pause-at-end's). */
    let app: Running;
    /** The long deadline, on the same stores: the warm-up and the calls made after a pause. */
    let steady: Running;
    let other: Running;
    const errors: string[] = [];
    const onStoreError = (e: { code: string }, ctx: { middleware: string }) => void errors.push(`${ctx.middleware} ${e.code}`);
    const runs = new Map<string, number>();
    const count = (key: unknown) => runs.set(String(key), (runs.get(String(key)) ?? 0) + 1).get(String(key))!;
    let pauseAtEnd: Pause | undefined;

    beforeAll(async () => {
      replicas = await openReplicas(backend);
      const [stores, storesB] = replicas.stores;
      /** /orders (failing closed) and /transfer (a consuming CSRF check) on replica A's stores. */
      const closedRoutes = async (fastify: FastifyInstance, timeoutMs: number) => {
        await fastify.register(async (closed) => {
          await closed.register(idempotency, { store: stores.idempotency, timeoutMs, onStoreError });
          closed.post('/orders', async (request, reply) => reply.code(201).send({ run: count(request.headers['idempotency-key']) }));
        });
        await fastify.register(async (tokens) => {
          await tokens.register(csrf, { store: stores.csrf, consume: true, sessionId: () => 'session', timeoutMs, onStoreError });
          tokens.post('/transfer', async () => ({ done: count('transfer') }));
        });
      };
      const fastify = Fastify({ forceCloseConnections: true });
      await closedRoutes(fastify, TIMEOUT_MS);
      await fastify.register(async (open) => {
        await open.register(idempotency, { store: stores.idempotency, timeoutMs: TIMEOUT_MS, failOpen: true, onStoreError });
        open.post('/open', async (request) => ({ run: count(request.headers['idempotency-key']) }));
      });
      await fastify.register(async (late) => {
        // A lease that outlives the pause: the key stays held while storing is retried.
        await late.register(idempotency, { store: stores.idempotency, leaseMs: 8000, timeoutMs: TIMEOUT_MS, onStoreError });
        late.post('/pause-at-end', async (request, reply) => {
          const run = count(request.headers['idempotency-key']);
          pauseAtEnd = await replicas.setA.pause(2500);
          return reply.code(201).header('x-run', String(run)).send({ run });
        });
      });
      app = await listenFastify(fastify);
      // The calls that are not about a pause keep a long deadline, so a slow moment of a loaded
      // machine cannot fail them: the same routes on the same stores, and B (used after the pause).
      const long = Fastify({ forceCloseConnections: true });
      await closedRoutes(long, 5000);
      steady = await listenFastify(long);
      // The other replica, on its own connection: it answers the replay of what A stored late.
      const b = Fastify({ forceCloseConnections: true });
      await b.register(idempotency, { store: storesB.idempotency, timeoutMs: 5000 });
      b.post('/pause-at-end', async () => ({ ranOnB: true }));
      other = await listenFastify(b);
      expect((await postJson(`${steady.url}/orders`, 'warm-up', {})).status).toBe(201); // the tables exist
      await stores.csrf.issue('warm-up', { ttlMs: 1000 });
    });
    afterAll(async () => {
      await app.close();
      await steady.close();
      await other.close();
      await replicas.close();
    });

    /** `call` while the backend is paused: its answer, and whether the pause was over when it came. */
    async function duringPause(call: () => Promise<RawResponse>): Promise<{ answer: RawResponse; afterPause: boolean }> {
      errors.length = 0;
      const pause = await replicas.setA.pause(PAUSE_MS);
      let over = false;
      const overAt = pause.over.then(() => void (over = true));
      const answer = await call();
      const afterPause = over;
      await overAt;
      await sleep(100);
      return { answer, afterPause };
    }

    it('idempotency: 503 with Retry-After before the backend is back; the same request then runs once, then replays', async () => {
      const { answer, afterPause } = await duringPause(() => postJson(`${app.url}/orders`, 'k-paused', { n: 1 }));
      expect([answer.status, headerOf(answer, 'retry-after'), afterPause]).toEqual([503, '1', false]);
      expect(JSON.parse(answer.body.toString()).type).toBe('urn:stowage:problem:store-unavailable');
      expect(errors).toEqual([expect.stringMatching(/^idempotency (TIMEOUT|UNAVAILABLE)$/)]);
      const retry = await postJson(`${steady.url}/orders`, 'k-paused', { n: 1 });
      const replay = await postJson(`${steady.url}/orders`, 'k-paused', { n: 1 });
      expect([retry.status, headerOf(retry, 'idempotent-replayed')]).toEqual([201, undefined]);
      expect([replay.status, headerOf(replay, 'idempotent-replayed')]).toEqual([201, 'true']);
      expect(runs.get('k-paused')).toBe(1);
    });

    it('idempotency with failOpen: the request runs unprotected while the backend is paused (reported)', async () => {
      const { answer } = await duringPause(() => postJson(`${app.url}/open`, 'k-open', {}));
      expect([answer.status, headerOf(answer, 'idempotent-replayed')]).toEqual([200, undefined]);
      expect(errors).toEqual([expect.stringMatching(/^idempotency (TIMEOUT|UNAVAILABLE)$/)]);
      expect(runs.get('k-open')).toBe(1);
    });

    it('csrf: a consuming check the paused backend could not answer in time is 503 and does not spend the token', async () => {
      const token = await replicas.stores[0].csrf.issue('session', { ttlMs: 60_000 });
      const transfer = (on: Running) => send(`${on.url}/transfer`, { method: 'POST', headers: { 'x-csrf-token': token } });
      const before = runs.get('transfer') ?? 0;
      const { answer, afterPause } = await duringPause(() => transfer(app));
      expect([answer.status, headerOf(answer, 'retry-after'), afterPause]).toEqual([503, '1', false]);
      expect(errors).toEqual([expect.stringMatching(/^csrf (TIMEOUT|UNAVAILABLE)$/)]);
      expect([(await transfer(steady)).status, (await transfer(steady)).status]).toEqual([200, 403]);
      expect((runs.get('transfer') ?? 0) - before).toBe(1);
    });

    it('a store that stops as the handler ends: the response goes out, retries wait (503/409), then the replay; one run', async () => {
      errors.length = 0;
      const first = await postJson(`${app.url}/pause-at-end`, 'k-down', {});
      expect([first.status, headerOf(first, 'x-run')]).toEqual([201, '1']);
      expect(errors.filter((r) => r === 'idempotency TIMEOUT').length).toBeGreaterThanOrEqual(1); // storing it failed
      const statuses: number[] = [];
      let replay: RawResponse | undefined;
      const started = Date.now();
      while (replay === undefined && Date.now() - started < 10_000) {
        const r = await postJson(`${app.url}/pause-at-end`, 'k-down', {});
        if (headerOf(r, 'idempotent-replayed') === 'true') replay = r;
        else {
          statuses.push(r.status);
          await sleep(100);
        }
      }
      await pauseAtEnd!.over;
      expect(runs.get('k-down')).toBe(1);
      expect(statuses.every((s) => s === 503 || s === 409)).toBe(true);
      expect([replay?.status, replay && headerOf(replay, 'x-run'), replay?.body.equals(first.body)]).toEqual([201, '1', true]);
      // The other replica replays it too, and never runs its own handler.
      const onB = await postJson(`${other.url}/pause-at-end`, 'k-down', {});
      expect([onB.status, headerOf(onB, 'idempotent-replayed'), onB.body.equals(first.body)]).toEqual([201, 'true', true]);
      expect(errors.filter((r) => r !== 'idempotency TIMEOUT' && r !== 'idempotency UNAVAILABLE')).toEqual([]);
    });
  },
  ['sqlite', 'postgres', 'redis'],
);
