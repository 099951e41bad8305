import type {
  CsrfTokenStore,
  IdempotencyStore,
  JwksCacheStore,
  Lease,
  LockStore,
  RateLimitPolicy,
  RateLimitStore,
  Reservation,
  SessionStore,
  StreamAppendResult,
  StreamInfo,
  StreamReadResult,
  StreamStore,
  StoredResponse,
} from '@stowage/core';
import { STORE_CALLS } from '@stowage/core/adapter-kit';
import type { DeadlineTable } from '../deadline-rule.js';
import { bytes, text } from '../helpers.js';

// One table per contract for `deadlineTests`: each case's records are named after its method
// (`k`), and each snapshot reads back everything that case's call could change.

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export const SESSION_DEADLINES: DeadlineTable<SessionStore, void> = {
  calls: STORE_CALLS.session,
  // `k` at version 2 owned by `k`, a sibling session of the same owner, `k+new` free.
  async before(s, k) {
    await s.set(k, bytes('one'), { ttlMs: HOUR, absoluteTtlMs: DAY, owner: k });
    await s.set(k, bytes('two'), { ttlMs: HOUR });
    await s.set(`${k}+sib`, bytes('sib'), { ttlMs: HOUR, owner: k });
  },
  snapshot: async (s, k) => ({ main: await s.get(k), sib: await s.get(`${k}+sib`), moved: await s.get(`${k}+new`) }),
  cases: [
    { method: 'get', reads: true, call: (s, k, o) => s.get(k, o), badArgs: (s, _k, o) => s.get('', o) },
    {
      method: 'set',
      call: (s, k, o) => s.set(k, bytes('three'), { ttlMs: 2 * HOUR, ifVersion: 2, ...o }),
      badArgs: (s, k, o) => s.set(k, 'three' as never, { ttlMs: 2 * HOUR, ...o }),
    },
    { method: 'touch', call: (s, k, o) => s.touch(k, 2 * HOUR, o), badArgs: (s, k, o) => s.touch(k, 0, o) },
    { method: 'destroy', call: (s, k, o) => s.destroy(k, o), badArgs: (s, _k, o) => s.destroy('a\u0000b', o) },
    {
      method: 'rotate',
      call: (s, k, o) => s.rotate(k, `${k}+new`, { ttlMs: 2 * HOUR, ...o }),
      badArgs: (s, k, o) => s.rotate(k, k, o),
    },
    {
      method: 'destroyByOwner',
      call: (s, k, o) => s.destroyByOwner(k, { except: k, ...o }),
      badArgs: (s, k, o) => s.destroyByOwner(k, { except: '', ...o }),
    },
  ],
};

const POLICY: RateLimitPolicy = { algorithm: 'gcra', limit: 5, windowMs: 60_000 };

export const RATE_LIMIT_DEADLINES: DeadlineTable<RateLimitStore, void> = {
  calls: STORE_CALLS.rateLimit,
  // 2 of 5 units taken.
  async before(s, k) {
    await s.consume(k, POLICY, { cost: 2 });
  },
  snapshot: (s, k) => s.peek(k, POLICY),
  cases: [
    { method: 'consume', call: (s, k, o) => s.consume(k, POLICY, o), badArgs: (s, k, o) => s.consume(k, POLICY, { cost: 1.5, ...o }) },
    { method: 'peek', reads: true, call: (s, k, o) => s.peek(k, POLICY, o), badArgs: (s, k, o) => s.peek(k, { ...POLICY, limit: 0 }, o) },
    { method: 'reset', call: (s, k, o) => s.reset(k, o), badArgs: (s, _k, o) => s.reset('', o) },
  ],
};

const SCOPE = 'tenant';
const FP = 'POST /orders 1f2e';
const LEASE = 30_000;
const RESPONSE: StoredResponse = { status: 201, headers: [['location', '/orders/7']], body: bytes('{"id":7}') };
/** A reservation without its random token. */
const sansToken = (r: Reservation) => (r.state === 'reserved' ? { state: r.state } : r);

export const IDEMPOTENCY_DEADLINES: DeadlineTable<IdempotencyStore, string> = {
  calls: STORE_CALLS.idempotency,
  // `k` reserved (the state is its token), `k+free` free.
  async before(s, k) {
    const r = await s.reserve(SCOPE, k, FP, { leaseMs: LEASE });
    if (r.state !== 'reserved') throw new Error(`reserve of a new key gave ${r.state}`);
    return r.token;
  },
  // in-flight with the time left, completed with the response, or reserved again once released.
  snapshot: async (s, k) => ({
    held: sansToken(await s.reserve(SCOPE, k, FP, { leaseMs: LEASE })),
    free: sansToken(await s.reserve(SCOPE, `${k}+free`, FP, { leaseMs: LEASE })),
  }),
  cases: [
    {
      method: 'reserve',
      call: (s, k, o) => s.reserve(SCOPE, `${k}+free`, FP, { leaseMs: LEASE, ...o }),
      badArgs: (s, k, o) => s.reserve(SCOPE, `${k}+free`, FP, { leaseMs: 0, ...o }),
      view: sansToken,
    },
    {
      method: 'complete',
      call: (s, k, o, token) => s.complete(SCOPE, k, token, RESPONSE, { retentionMs: HOUR, ...o }),
      badArgs: (s, k, o, token) => s.complete(SCOPE, k, token, { ...RESPONSE, status: 99 }, { retentionMs: HOUR, ...o }),
    },
    {
      method: 'release',
      call: (s, k, o, token) => s.release(SCOPE, k, token, o),
      badArgs: (s, k, o) => s.release(SCOPE, k, 42 as never, o),
    },
    {
      method: 'extend',
      call: (s, k, o, token) => s.extend(SCOPE, k, token, 2 * LEASE, o),
      badArgs: (s, k, o, token) => s.extend(SCOPE, k, token, 0, o),
    },
  ],
};

export const CSRF_DEADLINES: DeadlineTable<CsrfTokenStore, string> = {
  calls: STORE_CALLS.csrf,
  // One token issued to session `k` (the state).
  before: (s, k) => s.issue(k, { ttlMs: HOUR }),
  snapshot: async (s, k, token) => ({ valid: await s.validate(k, token), live: await s.revoke(k) }),
  cases: [
    {
      method: 'issue',
      call: (s, k, o) => s.issue(k, { ttlMs: HOUR, ...o }),
      badArgs: (s, k, o) => s.issue(k, { ttlMs: 0, ...o }),
      view: (token: string) => typeof token,
    },
    {
      method: 'validate',
      call: (s, k, o, token) => s.validate(k, token, { consume: true, ...o }),
      badArgs: (s, k, o, token) => s.validate(k, token, { consume: 'yes' as never, ...o }),
    },
    { method: 'revoke', call: (s, k, o) => s.revoke(k, o), badArgs: (s, _k, o) => s.revoke('', o) },
  ],
};

const TTL = 30_000;

export const LOCK_DEADLINES: DeadlineTable<LockStore, Lease> = {
  calls: STORE_CALLS.lock,
  // `k` held (the state is its lease), `k+free` free.
  async before(s, k) {
    const lease = await s.acquire(k, { ttlMs: TTL });
    if (lease === undefined) throw new Error('acquire of a free name gave no lease');
    return lease;
  },
  // Held now (not released), and still held once its ttl has passed (extended).
  async snapshot(s, k, _lease, clock) {
    const freeHeld = (await s.acquire(`${k}+free`, { ttlMs: TTL })) === undefined;
    const held = (await s.acquire(k, { ttlMs: TTL })) === undefined;
    clock.advance(TTL);
    return { freeHeld, held, heldPastTtl: (await s.acquire(k, { ttlMs: TTL })) === undefined };
  },
  cases: [
    {
      method: 'acquire',
      call: (s, k, o) => s.acquire(`${k}+free`, { ttlMs: TTL, ...o }),
      badArgs: (s, k, o) => s.acquire(`${k}+free`, { ttlMs: 0, ...o }),
      view: (lease: Lease | undefined) => lease && { expiresAt: lease.expiresAt },
    },
    {
      method: 'extend',
      call: (s, k, o, lease) => s.extend(k, lease.token, 2 * TTL, o),
      badArgs: (s, k, o, lease) => s.extend(k, lease.token, 1.5, o),
    },
    {
      method: 'release',
      call: (s, k, o, lease) => s.release(k, lease.token, o),
      badArgs: (s, k, o) => s.release(k, null as never, o),
    },
  ],
};

const jwks = (kid: string) => JSON.stringify({ keys: [{ kty: 'oct', kid, k: 'c2VjcmV0' }] });

export const JWKS_DEADLINES: DeadlineTable<JwksCacheStore, void> = {
  calls: STORE_CALLS.jwks,
  async before(s, k) {
    await s.put(k, jwks('a'), { fetchedAt: 1000, ttlMs: HOUR });
  },
  snapshot: (s, k) => s.get(k),
  cases: [
    { method: 'get', reads: true, call: (s, k, o) => s.get(k, o), badArgs: (s, _k, o) => s.get('', o) },
    {
      method: 'put',
      call: (s, k, o) => s.put(k, jwks('b'), { fetchedAt: 2000, ttlMs: HOUR, ...o }),
      badArgs: (s, k, o) => s.put(k, jwks('b'), { fetchedAt: -1, ttlMs: HOUR, ...o }),
    },
  ],
};

const TEXT = 'text/plain';
const msgs = (...parts: string[]) => parts.map(bytes);
/** Stream metadata without its incarnation id. */
const sansId = (info: StreamInfo | undefined) => {
  if (info === undefined) return undefined;
  const { id: _id, ...rest } = info;
  return rest;
};
/** An append's answer but the stream's id, which differs between twin stores. */
const appendView = (r: StreamAppendResult) => {
  const { streamId: _id, ...rest } = r;
  return rest;
};
const readView = (r: StreamReadResult) => ({
  texts: r.messages.map((m) => text(m.data)),
  nextOffset: r.nextOffset,
  atTail: r.atTail,
  closed: r.closed,
});

export const STREAM_DEADLINES: DeadlineTable<StreamStore, void> = {
  calls: STORE_CALLS.stream,
  // `k` with two messages, `k+ttl` with an idle TTL last renewed 1 s ago, `k+new` free.
  async before(s, k, clock) {
    await s.create(k, { contentType: TEXT }, { messages: msgs('a', 'b') });
    await s.create(`${k}+ttl`, { contentType: TEXT, ttlMs: HOUR }, { messages: msgs('a') });
    clock.advance(1000);
  },
  // Metadata, content, the new name, and whether `k+ttl` was renewed (alive an hour after its creation).
  async snapshot(s, k, _state, clock) {
    const info = sansId(await s.head(k));
    const content = info && readView(await s.read(k, '-1'));
    const created = sansId(await s.head(`${k}+new`));
    clock.advance(HOUR - 1000);
    return { info, content, created, renewed: (await s.head(`${k}+ttl`)) !== undefined };
  },
  cases: [
    {
      method: 'create',
      call: (s, k, o) => s.create(`${k}+new`, { contentType: TEXT }, { messages: msgs('n'), ...o }),
      badArgs: (s, k, o) => s.create(`${k}+new`, { contentType: TEXT, ttlMs: 0 }, o),
      view: (r: { status: string; info: StreamInfo }) => ({ status: r.status, info: sansId(r.info) }),
    },
    { method: 'append', call: (s, k, o) => s.append(k, msgs('c'), o), badArgs: (s, k, o) => s.append(k, [], o), view: appendView },
    {
      method: 'read',
      call: (s, k, o) => s.read(`${k}+ttl`, '-1', o),
      badArgs: (s, k, o) => s.read(`${k}+ttl`, '-1', { maxMessages: 0, ...o }),
      view: readView,
    },
    { method: 'head', reads: true, call: (s, k, o) => s.head(k, o), badArgs: (s, _k, o) => s.head('', o), view: sansId },
    {
      method: 'closeStream',
      call: (s, k, o) => s.closeStream(k, o),
      badArgs: (s, k, o) => s.closeStream(k, { producer: { id: 'p', epoch: -1, seq: 0 }, ...o }),
    },
    { method: 'delete', call: (s, k, o) => s.delete(k, o), badArgs: (s, _k, o) => s.delete('', o) },
  ],
};
