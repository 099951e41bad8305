import { setTimeout as sleep } from 'node:timers/promises';
import { describeStoreBackends } from '@stowage/test-stores';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counts, effects, order, started, uniqueKey, waitFor, type Answer } from './http.js';
import { startReplicas, type Replicas } from './replicas.js';

// Client hang-ups and retry storms over two replicas, on every backend: the handler runs
// once, every answer is 409 or the first run's response, every request is counted once.
await describeStoreBackends((backend) => {
  let r: Replicas;
  beforeAll(async () => {
    // No test here is about the store's time limit: a long one, so that no call of a storm
    // answers 503 on a loaded machine (every answer must be 409 or the first run's).
    r = await startReplicas(backend, 5000);
  });
  afterAll(() => r?.stop());

  describe('client hang-ups', () => {
    it('a client hangs up mid-handler: its retry on the other replica gets 409, one handler run, later retries replay it', async () => {
      const [a, b] = r.urls;
      const key = uniqueKey('hang-up');
      // The handler records its side effect at 500 ms and answers at 2000 ms; the client hangs
      // up once the handler has begun (not at a set time: a slow machine may not be there yet).
      const hangUp = new AbortController();
      const first = order(a, key, { effectAt: 500, answerAt: 2000 }, hangUp.signal);
      await waitFor(async () => (await started(a, key)) === 1);
      hangUp.abort();
      await waitFor(async () => (await effects(b, key)).length === 1);
      const during = await order(b, key);
      expect(during.status).toBe(409);
      expect(during.retryAfter).toBe('1');
      expect((await first).status).toBe(0);

      const seen: Answer[] = [];
      await waitFor(async () => {
        seen.push(await order(b, key));
        return seen.at(-1)!.status !== 409;
      });
      const replay = seen.at(-1)!;
      const [effect] = await effects(a, key);
      expect(replay).toMatchObject({ status: 201, replayed: true });
      expect(JSON.parse(replay.body)).toEqual({ id: effect!.id, replica: 'a' });
      expect(await order(a, key)).toMatchObject({ status: 201, replayed: true, body: replay.body });
      expect(await effects(a, key)).toHaveLength(1);
      // first, during, the polled retries and the last one: each consumed once, whatever it got
      expect(await counts(b, key)).toMatchObject({ orders: 3 + seen.length });
    });

    it('a retry storm over both replicas, its first client hanging up mid-handler: one run, only 409s and its replays', async () => {
      const key = uniqueKey('storm');
      // The first request wins the key: the others start once its handler has begun (waiting
      // for that, not for a time, makes it the winner however slow the machine is). Its client
      // then leaves before the side effect (at 300 ms; the answer would come at 1500 ms).
      const hangUp = new AbortController();
      const first = order(r.urls[0], key, { effectAt: 300, answerAt: 1500 }, hangUp.signal);
      await waitFor(async () => (await started(r.urls[0], key)) === 1);
      hangUp.abort();
      const rest = Array.from({ length: 39 }, async (_, i) => {
        await sleep(i * 15);
        return order(r.urls[(i + 1) % 2]!, key);
      });
      const storm = await Promise.all([first, ...rest]);
      let polled = 0;
      await waitFor(async () => (polled++, (await order(r.urls[0], key)).status === 201));
      const after = await Promise.all([0, 1, 0, 1].map((i) => order(r.urls[i]!, key)));

      const all = await effects(r.urls[1], key);
      expect(all).toHaveLength(1);
      const body = JSON.stringify({ id: all[0]!.id, replica: all[0]!.replica });
      expect(all[0]!.replica).toBe('a');
      expect(storm[0]!.status).toBe(0);
      for (const answer of storm) {
        expect([0, 201, 409]).toContain(answer.status);
        if (answer.status === 201) expect(answer).toMatchObject({ replayed: true, body });
      }
      for (const answer of after) expect(answer).toMatchObject({ status: 201, replayed: true, body });
      // Every request reached a replica and was counted once, hung up or not.
      expect(await counts(r.urls[1], key)).toEqual({ orders: 40 + polled + 4, pings: 0 });
    });
  });

  describe('sessions', () => {
    const login = async (url: string): Promise<{ cookie: string; sid: string }> => {
      const res = await fetch(`${url}/s/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"user":"ada"}',
      });
      expect(res.status).toBe(200);
      // express-session sends all but the last byte before its save completes: read it all.
      await res.text();
      const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
      const signed = decodeURIComponent(cookie.slice(cookie.indexOf('=') + 1)); // s:<sid>.<signature>
      return { cookie, sid: signed.slice(2, signed.lastIndexOf('.')) };
    };
    const me = async (url: string, cookie: string) =>
      (await (await fetch(`${url}/s/me`, { headers: { cookie } })).json()) as { user: string | null };

    for (const hangUp of [false, true]) {
      const whose = hangUp ? ', whose client hangs up' : '';
      it(`a logout on one replica while a slow request of the session runs on the other${whose}: the session stays gone`, async () => {
        const [a, b] = r.urls;
        const { cookie, sid } = await login(a);
        const sessions = r.sessions;
        expect((await sessions.get(sid))?.version).toBe(1);
        const ac = new AbortController();
        const slow = fetch(`${b}/s/slow`, { method: 'POST', headers: { cookie, 'x-delay': '600' }, signal: ac.signal }).then(
          async (res) => (await res.text(), res.status),
          () => 0,
        );
        await sleep(150);
        if (hangUp) ac.abort();
        expect((await fetch(`${a}/s/logout`, { method: 'POST', headers: { cookie } })).status).toBe(200);
        expect(await slow).toBe(hangUp ? 0 : 200);
        await sleep(hangUp ? 700 : 50); // the slow handler ends (and tries to save) without its client
        expect(await sessions.get(sid)).toBeUndefined();
        for (const url of r.urls) expect(await me(url, cookie)).toMatchObject({ user: null });
      });
    }
  });
});
