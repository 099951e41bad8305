import type {
  CsrfTokenStore,
  IdempotencyStore,
  JwksCacheStore,
  LockStore,
  RateLimitPolicy,
  RateLimitStore,
  SessionStore,
  StoredResponse,
  StreamStore,
} from '@stowage/core';
import type { CheckOrderCase } from '../check-order-rule.js';
import { bytes } from '../helpers.js';

// One table per contract for `checkOrderTests`: every method, with the arguments it refuses,
// each sent to a record `k` that does not exist. The bad arguments are the ones a store could
// be tempted to check only once it has found the record (a ttl, a token, an offset, a size).

const HOUR = 3_600_000;
const TOKEN = 'a'.repeat(32);
/** `n` bytes. */
const sized = (n: number) => new Uint8Array(n).fill(120);

export const SESSION_ORDER: readonly CheckOrderCase<SessionStore>[] = [
  {
    method: 'get',
    valid: (s, k, o) => s.get(k, o),
    answer: { value: undefined },
    bad: [{ label: 'options that are not an object', call: (s, k) => s.get(k, 'soon' as never) }],
  },
  {
    method: 'set',
    valid: (s, k, o) => s.set(k, bytes('x'), { ttlMs: HOUR, ifVersion: 3, ...o }),
    answer: { code: 'CONFLICT' },
    bad: [
      { label: 'ttlMs 0 and ifVersion 3', call: (s, k, o) => s.set(k, bytes('x'), { ttlMs: 0, ifVersion: 3, ...o }) },
      { label: 'ifVersion -1', call: (s, k, o) => s.set(k, bytes('x'), { ttlMs: HOUR, ifVersion: -1, ...o }) },
      { label: 'data that is a string', call: (s, k, o) => s.set(k, 'x' as never, { ttlMs: HOUR, ifVersion: 3, ...o }) },
      {
        label: 'data one byte over the limit and ifVersion 3',
        code: 'PAYLOAD_TOO_LARGE',
        call: (s, k, o, l) => s.set(k, sized(l.sessionDataBytes + 1), { ttlMs: HOUR, ifVersion: 3, ...o }),
      },
    ],
  },
  {
    method: 'touch',
    valid: (s, k, o) => s.touch(k, HOUR, o),
    answer: { value: false },
    bad: [
      { label: 'ttlMs 0', call: (s, k, o) => s.touch(k, 0, o) },
      { label: 'a fractional ttlMs', call: (s, k, o) => s.touch(k, 1.5, o) },
    ],
  },
  {
    method: 'destroy',
    valid: (s, k, o) => s.destroy(k, o),
    answer: { value: false },
    bad: [{ label: 'an id with a NUL', call: (s, k, o) => s.destroy(`${k}\u0000`, o) }],
  },
  {
    method: 'rotate',
    valid: (s, k, o) => s.rotate(k, `${k}+new`, o),
    answer: { value: false },
    bad: [
      { label: 'the same id twice', call: (s, k, o) => s.rotate(k, k, o) },
      { label: 'an empty new id', call: (s, k, o) => s.rotate(k, '', o) },
      { label: 'ttlMs 0', call: (s, k, o) => s.rotate(k, `${k}+new`, { ttlMs: 0, ...o }) },
    ],
  },
  {
    method: 'destroyByOwner',
    valid: (s, k, o) => s.destroyByOwner(k, { except: 'x', ...o }),
    answer: { value: 0 },
    bad: [{ label: 'an empty except', call: (s, k, o) => s.destroyByOwner(k, { except: '', ...o }) }],
  },
];

const POLICY: RateLimitPolicy = { algorithm: 'gcra', limit: 5, windowMs: 60_000 };

export const RATE_LIMIT_ORDER: readonly CheckOrderCase<RateLimitStore>[] = [
  {
    method: 'consume',
    valid: (s, k, o) => s.consume(k, POLICY, { cost: 5, ...o }),
    bad: [
      { label: 'cost 1.5', call: (s, k, o) => s.consume(k, POLICY, { cost: 1.5, ...o }) },
      { label: 'a cost over the capacity', call: (s, k, o) => s.consume(k, POLICY, { cost: 6, ...o }) },
      { label: 'a policy with limit 0', call: (s, k, o) => s.consume(k, { ...POLICY, limit: 0 }, o) },
    ],
  },
  {
    method: 'peek',
    valid: (s, k, o) => s.peek(k, POLICY, o),
    bad: [
      { label: 'a policy with windowMs 0', call: (s, k, o) => s.peek(k, { ...POLICY, windowMs: 0 }, o) },
      { label: 'an empty policy array', call: (s, k, o) => s.peek(k, [], o) },
    ],
  },
  {
    method: 'reset',
    valid: (s, k, o) => s.reset(k, o),
    answer: { value: undefined },
    bad: [{ label: 'options that are not an object', call: (s, k) => s.reset(k, 42 as never) }],
  },
];

const SCOPE = 'tenant';
const FP = 'POST /orders 1f2e';
const RESPONSE: StoredResponse = { status: 201, headers: [['location', '/orders/7']], body: bytes('{"id":7}') };

export const IDEMPOTENCY_ORDER: readonly CheckOrderCase<IdempotencyStore>[] = [
  {
    method: 'reserve',
    valid: (s, k, o) => s.reserve(SCOPE, k, FP, { leaseMs: HOUR, ...o }),
    bad: [
      { label: 'leaseMs 0', call: (s, k, o) => s.reserve(SCOPE, k, FP, { leaseMs: 0, ...o }) },
      { label: 'an empty fingerprint', call: (s, k, o) => s.reserve(SCOPE, k, '', { leaseMs: HOUR, ...o }) },
    ],
  },
  {
    method: 'complete',
    valid: (s, k, o) => s.complete(SCOPE, k, TOKEN, RESPONSE, { retentionMs: HOUR, ...o }),
    answer: { value: false },
    bad: [
      { label: 'status 99', call: (s, k, o) => s.complete(SCOPE, k, TOKEN, { ...RESPONSE, status: 99 }, { retentionMs: HOUR, ...o }) },
      { label: 'retentionMs 0', call: (s, k, o) => s.complete(SCOPE, k, TOKEN, RESPONSE, { retentionMs: 0, ...o }) },
      { label: 'a token that is a number', call: (s, k, o) => s.complete(SCOPE, k, 7 as never, RESPONSE, { retentionMs: HOUR, ...o }) },
      {
        label: 'a body one byte over the limit',
        code: 'PAYLOAD_TOO_LARGE',
        call: (s, k, o, l) =>
          s.complete(
            SCOPE,
            k,
            TOKEN,
            { status: 200, headers: [], body: sized(l.idempotencyResponseBytes + 1) },
            { retentionMs: HOUR, ...o },
          ),
      },
    ],
  },
  {
    method: 'release',
    valid: (s, k, o) => s.release(SCOPE, k, TOKEN, o),
    answer: { value: false },
    bad: [{ label: 'a token that is a number', call: (s, k, o) => s.release(SCOPE, k, 42 as never, o) }],
  },
  {
    method: 'extend',
    valid: (s, k, o) => s.extend(SCOPE, k, TOKEN, HOUR, o),
    answer: { value: false },
    bad: [
      { label: 'leaseMs 0', call: (s, k, o) => s.extend(SCOPE, k, TOKEN, 0, o) },
      { label: 'a token that is null', call: (s, k, o) => s.extend(SCOPE, k, null as never, HOUR, o) },
    ],
  },
];

export const CSRF_ORDER: readonly CheckOrderCase<CsrfTokenStore>[] = [
  {
    method: 'issue',
    valid: (s, k, o) => s.issue(k, { ttlMs: HOUR, ...o }),
    bad: [{ label: 'ttlMs 0', call: (s, k, o) => s.issue(k, { ttlMs: 0, ...o }) }],
  },
  {
    method: 'validate',
    valid: (s, k, o) => s.validate(k, TOKEN, { consume: true, ...o }),
    answer: { value: false },
    bad: [
      { label: 'a token that is a number', call: (s, k, o) => s.validate(k, 42 as never, o) },
      { label: 'consume "yes"', call: (s, k, o) => s.validate(k, TOKEN, { consume: 'yes' as never, ...o }) },
    ],
  },
  {
    method: 'revoke',
    valid: (s, k, o) => s.revoke(k, o),
    answer: { value: 0 },
    bad: [{ label: 'options that are not an object', call: (s, k) => s.revoke(k, 'now' as never) }],
  },
];

export const LOCK_ORDER: readonly CheckOrderCase<LockStore>[] = [
  {
    method: 'acquire',
    valid: (s, k, o) => s.acquire(k, { ttlMs: HOUR, ...o }),
    bad: [{ label: 'ttlMs 0', call: (s, k, o) => s.acquire(k, { ttlMs: 0, ...o }) }],
  },
  {
    method: 'extend',
    valid: (s, k, o) => s.extend(k, TOKEN, HOUR, o),
    answer: { value: false },
    bad: [
      { label: 'ttlMs 1.5', call: (s, k, o) => s.extend(k, TOKEN, 1.5, o) },
      { label: 'a token that is a number', call: (s, k, o) => s.extend(k, 42 as never, HOUR, o) },
    ],
  },
  {
    method: 'release',
    valid: (s, k, o) => s.release(k, TOKEN, o),
    answer: { value: false },
    bad: [{ label: 'a token that is null', call: (s, k, o) => s.release(k, null as never, o) }],
  },
];

const JWKS = JSON.stringify({ keys: [] });

export const JWKS_ORDER: readonly CheckOrderCase<JwksCacheStore>[] = [
  {
    method: 'get',
    valid: (s, k, o) => s.get(k, o),
    answer: { value: undefined },
    bad: [{ label: 'options that are not an object', call: (s, k) => s.get(k, 1 as never) }],
  },
  {
    method: 'put',
    valid: (s, k, o) => s.put(k, JWKS, { fetchedAt: 1000, ttlMs: HOUR, ...o }),
    answer: { value: true },
    bad: [
      { label: 'fetchedAt -1', call: (s, k, o) => s.put(k, JWKS, { fetchedAt: -1, ttlMs: HOUR, ...o }) },
      { label: 'ttlMs 0', call: (s, k, o) => s.put(k, JWKS, { fetchedAt: 1000, ttlMs: 0, ...o }) },
      { label: 'a document that is not a string', call: (s, k, o) => s.put(k, {} as never, { fetchedAt: 1000, ttlMs: HOUR, ...o }) },
      {
        label: 'a document one byte over the limit',
        code: 'PAYLOAD_TOO_LARGE',
        call: (s, k, o, l) => s.put(k, 'x'.repeat(l.jwksDocumentBytes + 1), { fetchedAt: 1000, ttlMs: HOUR, ...o }),
      },
    ],
  },
];

export const STREAM_ORDER: readonly CheckOrderCase<StreamStore>[] = [
  {
    method: 'create',
    // A fork of a missing source: the record that decides is the source.
    valid: (s, k, o) => s.create(`${k}+fork`, {}, { fork: { from: k }, ...o }),
    answer: { code: 'NOT_FOUND' },
    bad: [
      {
        label: 'a fork of it at a malformed offset',
        call: (s, k, o) => s.create(`${k}+fork`, {}, { fork: { from: k, offset: 'x' }, ...o }),
      },
      { label: 'a fork of it at sub-offset -1', call: (s, k, o) => s.create(`${k}+fork`, {}, { fork: { from: k, subOffset: -1 }, ...o }) },
      { label: 'a fork of it with ttlMs 0', call: (s, k, o) => s.create(`${k}+fork`, { ttlMs: 0 }, { fork: { from: k }, ...o }) },
      {
        label: 'a fork of it with an initial message one byte over the limit',
        code: 'PAYLOAD_TOO_LARGE',
        call: (s, k, o, l) => s.create(`${k}+fork`, {}, { fork: { from: k }, messages: [sized(l.streamMessageBytes + 1)], ...o }),
      },
    ],
  },
  {
    method: 'append',
    valid: (s, k, o) => s.append(k, [bytes('x')], o),
    answer: { code: 'NOT_FOUND' },
    bad: [
      { label: 'no message', call: (s, k, o) => s.append(k, [], o) },
      { label: 'an empty message', call: (s, k, o) => s.append(k, [new Uint8Array(0)], o) },
      {
        label: 'a producer with epoch -1',
        call: (s, k, o) => s.append(k, [bytes('x')], { producer: { id: 'p', epoch: -1, seq: 0 }, ...o }),
      },
      { label: 'an empty content type', call: (s, k, o) => s.append(k, [bytes('x')], { contentType: '', ...o }) },
      {
        label: 'a message one byte over the limit',
        code: 'PAYLOAD_TOO_LARGE',
        call: (s, k, o, l) => s.append(k, [sized(l.streamMessageBytes + 1)], o),
      },
    ],
  },
  {
    method: 'read',
    valid: (s, k, o) => s.read(k, '-1', o),
    answer: { code: 'NOT_FOUND' },
    bad: [
      { label: 'a malformed offset', call: (s, k, o) => s.read(k, 'x', o) },
      { label: 'offset now', call: (s, k, o) => s.read(k, 'now', o) },
      { label: 'maxMessages 0', call: (s, k, o) => s.read(k, '-1', { maxMessages: 0, ...o }) },
    ],
  },
  {
    method: 'head',
    valid: (s, k, o) => s.head(k, o),
    answer: { value: undefined },
    bad: [{ label: 'options that are not an object', call: (s, k) => s.head(k, 'x' as never) }],
  },
  {
    method: 'closeStream',
    valid: (s, k, o) => s.closeStream(k, o),
    answer: { code: 'NOT_FOUND' },
    bad: [{ label: 'a producer with seq 1.5', call: (s, k, o) => s.closeStream(k, { producer: { id: 'p', epoch: 0, seq: 1.5 }, ...o }) }],
  },
  {
    method: 'delete',
    valid: (s, k, o) => s.delete(k, o),
    answer: { value: false },
    bad: [{ label: 'options that are not an object', call: (s, k) => s.delete(k, true as never) }],
  },
  {
    // No deadline: `timeoutMs` bounds it.
    method: 'wait',
    bad: [
      { label: 'a malformed offset', call: (s, k) => s.wait(k, 'x', 1000) },
      { label: 'timeoutMs 0', call: (s, k) => s.wait(k, '-1', 0) },
    ],
  },
];
