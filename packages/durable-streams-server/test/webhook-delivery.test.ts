import { afterEach, expect, it } from 'vitest';
import { kidOf as thumbprintKid } from '../src/webhook-keys.js';
import { type OpenedTestStore, testSigningKeys } from './helpers.js';
import { type Answer, type Jwks, kidOf, Receiver, verifySignature } from './scripted-receiver.js';
import {
  eventuallyValue,
  getJson,
  putJson,
  type SubscriptionServer,
  type SubscriptionServerOptions,
  startSubscriptionServer,
} from './subscription-server.js';
import { describeEveryStore } from './stores.js';

/**
 * Webhook delivery against a receiver on 127.0.0.1, on every backend: signatures that verify
 * with the JWKS, retries with backoff, a receiver that hangs, key rotation.
 */
await describeEveryStore((open) => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function setup(script: Answer[], o: SubscriptionServerOptions = {}) {
    const opened: OpenedTestStore = await open();
    cleanups.push(() => opened.close());
    const s: SubscriptionServer = await startSubscriptionServer(opened, o);
    cleanups.push(() => s.close());
    const receiver = await Receiver.start(script);
    cleanups.push(() => receiver.close());
    return { opened, s, receiver };
  }

  const subscribe = async (s: SubscriptionServer, id: string, receiver: Receiver, extra = {}) => {
    const res = await fetch(
      s.url(`__ds/subscriptions/${id}`),
      putJson({ type: 'webhook', pattern: 'ev/*', webhook: { url: receiver.url }, ...extra }),
    );
    expect(res.status).toBe(201);
    return (await res.json()) as any;
  };

  it('signs each delivery with a key the JWKS publishes; a changed byte does not verify', async () => {
    const { s, receiver } = await setup([{ status: 200, body: { done: true } }]);
    const created = await subscribe(s, 'signed', receiver);
    expect(created.webhook.signing.jwks_url).toBe(s.url('__ds/jwks.json'));
    const put = await fetch(s.url('ev/one'), { method: 'PUT', headers: { 'content-type': 'application/json' }, body: '{"a":1}' });
    expect(put.status).toBe(201);
    await receiver.until(() => receiver.deliveries.length === 1);
    const d = receiver.deliveries[0]!;
    const jwksRes = await fetch(created.webhook.signing.jwks_url);
    expect(jwksRes.headers.get('content-type')).toBe('application/jwk-set+json');
    const jwks = (await jwksRes.json()) as Jwks;
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'OKP', crv: 'Ed25519', use: 'sig', alg: 'EdDSA', kid: created.webhook.signing.kid });
    // The kid is the RFC 7638 thumbprint of the published key.
    expect(thumbprintKid(JSON.stringify({ crv: 'Ed25519', kty: 'OKP', x: jwks.keys[0]!.x }))).toBe(jwks.keys[0]!.kid);
    expect(kidOf(d.signature)).toBe(created.webhook.signing.kid);
    expect(verifySignature(d.raw, d.signature, jwks)).toBe(true);
    expect(verifySignature(d.raw.replace('"generation":1', '"generation":2'), d.signature, jwks)).toBe(false);
    expect(d.body).toMatchObject({
      subscription_id: 'signed',
      generation: 1,
      callback_url: s.url('__ds/subscriptions/signed/callback'),
      streams: [
        { path: 'ev/one', link_type: 'glob', acked_offset: '-1', tail_offset: put.headers.get('stream-next-offset'), has_pending: true },
      ],
    });
    expect(d.body.callback_token).toEqual(expect.any(String));
    // `done` acked the wake's snapshot.
    const sub = await eventuallyValue(
      () => getJson(s.url('__ds/subscriptions/signed')),
      (b) => b.streams[0]?.acked_offset === put.headers.get('stream-next-offset'),
    );
    expect(JSON.stringify(sub)).not.toMatch(/token|secret|private/i);
  });

  it('retries a receiver answering 500 with growing delays, then stops at its done: exactly 3 deliveries', async () => {
    const { s, receiver } = await setup([{ status: 500 }, { status: 500 }, { status: 200, body: { done: true } }], {
      store: { retryBaseMs: 100 },
    });
    await subscribe(s, 'retry', receiver);
    const put = await fetch(s.url('ev/r'), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'x' });
    expect(put.status).toBe(201);
    await receiver.until(() => receiver.deliveries.length >= 3);
    const tail = put.headers.get('stream-next-offset');
    await eventuallyValue(
      () => getJson(s.url('__ds/subscriptions/retry')),
      (b) => b.status === 'active' && b.streams[0]?.acked_offset === tail,
    );
    // 30 more polls: nothing is left to deliver.
    const polls = s.logs.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(receiver.deliveries).toHaveLength(3);
    expect(s.logs.length).toBe(polls);
    const [a, b, c] = receiver.deliveries as [
      (typeof receiver.deliveries)[0],
      (typeof receiver.deliveries)[0],
      (typeof receiver.deliveries)[0],
    ];
    // One wake, retried: same id and generation, a new callback token per attempt.
    expect(new Set([a, b, c].map((d) => d.body.wake_id)).size).toBe(1);
    expect(new Set([a, b, c].map((d) => d.body.generation))).toEqual(new Set([1]));
    expect(new Set([a, b, c].map((d) => d.body.callback_token)).size).toBe(3);
    // Backoff: the store schedules retry n at least 0.8 * 100 * 2^(n-1) ms after the failure.
    expect(b.at - a.at).toBeGreaterThanOrEqual(80);
    expect(c.at - b.at).toBeGreaterThanOrEqual(160);
    expect(s.logs.filter((l) => l.includes('failed: the receiver answered 500'))).toHaveLength(2);
  });

  it('a receiver that never answers times out, and appends go on meanwhile', async () => {
    const { s, receiver } = await setup(['hang', { status: 200, body: { done: true } }], {
      subscriptions: { deliveryTimeoutMs: 1000 },
      store: { retryBaseMs: 50 },
    });
    await subscribe(s, 'hung', receiver);
    const first = await fetch(s.url('ev/h'), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: 'a' });
    expect(first.status).toBe(201);
    await receiver.until(() => receiver.deliveries.length === 1);
    // The receiver holds the first POST open; five appends are answered all the same.
    let tail = '';
    for (let i = 0; i < 5; i++) {
      const res = await fetch(s.url('ev/h'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: `b${i}` });
      expect(res.status).toBe(204);
      tail = res.headers.get('stream-next-offset')!;
    }
    expect(receiver.deliveries[0]!.cutAt).toBeUndefined();
    // The server gives up on it (cuts the connection), and the store's retry gets a done.
    await receiver.until(() => receiver.deliveries[0]!.cutAt !== undefined && receiver.deliveries.length >= 2);
    expect(s.logs.some((l) => l.includes('no answer within 1000 ms'))).toBe(true);
    // The retry's done acks the wake's snapshot (before the appends); the rest starts a new wake at once.
    await eventuallyValue(
      () => getJson(s.url('__ds/subscriptions/hung')),
      (b) => b.streams[0]?.acked_offset === tail,
    );
    await receiver.until(() => receiver.deliveries.length >= 3);
    await new Promise((r) => setTimeout(r, 200)); // room for a fourth, which must not come
    expect(receiver.deliveries).toHaveLength(3);
    expect(receiver.deliveries.map((d) => d.body.generation)).toEqual([1, 1, 2]);
    expect(receiver.deliveries[1]!.body.streams[0].tail_offset).toBe(tail);
  });

  it('keeps deliveries signed before a rotation verifiable; the new key signs from then on', async () => {
    const { s, receiver } = await setup([{ status: 200, body: { done: true } }]);
    const created = await subscribe(s, 'rotate', receiver);
    const kid1 = created.webhook.signing.kid as string;
    expect((await fetch(s.url('ev/k'), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body: '1' })).status).toBe(201);
    await receiver.until(() => receiver.deliveries.length === 1);
    await eventuallyValue(
      () => getJson(s.url('__ds/subscriptions/rotate')),
      (b) => b.streams[0]?.acked_offset !== '-1',
    );
    const kid2 = await s.server.rotateSigningKey();
    expect(kid2).toMatch(/^ds_/);
    expect(kid2).not.toBe(kid1);
    expect((await fetch(s.url('ev/k'), { method: 'POST', headers: { 'content-type': 'text/plain' }, body: '2' })).status).toBe(204);
    await receiver.until(() => receiver.deliveries.length === 2);
    const [d1, d2] = receiver.deliveries as [(typeof receiver.deliveries)[0], (typeof receiver.deliveries)[0]];
    expect(kidOf(d1.signature)).toBe(kid1);
    expect(kidOf(d2.signature)).toBe(kid2);
    const jwks = (await getJson(s.url('__ds/jwks.json'))) as Jwks;
    expect(jwks.keys.map((k) => k.kid).sort()).toEqual([kid1, kid2].sort());
    expect(verifySignature(d1.raw, d1.signature, jwks)).toBe(true);
    expect(verifySignature(d2.raw, d2.signature, jwks)).toBe(true);
    expect((await getJson(s.url('__ds/subscriptions/rotate'))).webhook.signing.kid).toBe(kid2);
  });

  it('drops a replaced key from the JWKS after replacedKeyTtlMs, never the current one', async () => {
    const { s, receiver } = await setup([{ status: 200, body: {} }], { subscriptions: { replacedKeyTtlMs: 300 } });
    const kid1 = (await subscribe(s, 'ttl', receiver)).webhook.signing.kid as string;
    const kid2 = await s.server.rotateSigningKey();
    expect(((await getJson(s.url('__ds/jwks.json'))) as Jwks).keys.map((k) => k.kid).sort()).toEqual([kid1, kid2].sort());
    const later = (await eventuallyValue(
      () => getJson(s.url('__ds/jwks.json')),
      (j: Jwks) => j.keys.length === 1,
    )) as Jwks;
    expect(later.keys[0]!.kid).toBe(kid2);
  });

  it('two replicas racing for the first signing key end up with ONE key', async () => {
    const opened = await open();
    cleanups.push(() => opened.close());
    const receiver = await Receiver.start();
    cleanups.push(() => receiver.close());
    // Two servers over one backend, each with its own subscription store and the same key ring.
    const signingKeys = testSigningKeys();
    const a = await startSubscriptionServer(opened, { subscriptions: { signingKeys } });
    cleanups.push(() => a.close());
    const b = await startSubscriptionServer(opened, { subscriptions: { signingKeys } });
    cleanups.push(() => b.close());
    const answers = await Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        const res = await fetch(
          (i % 2 === 0 ? a : b).url(`__ds/subscriptions/race-${i}`),
          putJson({ type: 'webhook', streams: [`x/${i}`], webhook: { url: receiver.url } }),
        );
        expect(res.status).toBe(201);
        return ((await res.json()) as any).webhook.signing.kid as string;
      }),
    );
    expect(new Set(answers).size).toBe(1);
    for (const server of [a, b]) {
      const jwks = (await getJson(server.url('__ds/jwks.json'))) as Jwks;
      expect(jwks.keys.map((k) => k.kid)).toEqual([answers[0]]);
    }
  });
});
