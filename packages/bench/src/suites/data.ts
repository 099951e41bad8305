import { jsonCodec, type SessionStore } from '@stowage/core';
import type { Op } from '../harness.js';

const DAY = 86_400_000;

/** `count` distinct keys, built once so key building is not measured. */
export function keys(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}-${i.toString(36)}-${(i * 2654435761) % 1e9}`);
}

/** A session as express-session keeps one. */
export function sessionObject() {
  return {
    cookie: { originalMaxAge: 86_400_000, expires: '2027-01-16T08:00:00.000Z', secure: true, httpOnly: true, path: '/', sameSite: 'lax' },
    userId: 'user-8f14e45fceea167a5a36dedd4bea2543',
    roles: ['customer'],
    cart: [
      { sku: 'A-1001', qty: 2 },
      { sku: 'B-2002', qty: 1 },
    ],
    csrfSecret: 'nD8lKx0Q1nJxVQ3r0o8cS9gq',
  };
}

/** A typical POST body. */
export function orderBody() {
  return { customerId: 'c_4242', items: [{ sku: 'A-1001', qty: 2 }], currency: 'EUR', note: 'leave at the door' };
}

export function responseBody() {
  return { id: 'ord_7Yx2', status: 'created', total: 4998, currency: 'EUR' };
}

/**
 * The session op of our store: fills `sids` (unless `filled`), then either gets and
 * JSON-decodes a session or JSON-encodes and sets one (what express-session does per request).
 */
export async function sessionOp(
  store: SessionStore,
  kind: 'get' | 'set',
  sids: readonly string[],
  sess: object,
  filled = false,
): Promise<Op> {
  if (!filled) for (const sid of sids) await store.set(sid, jsonCodec.encode(sess, sid), { ttlMs: DAY });
  if (kind === 'get') {
    return async (i) => {
      const sid = sids[i % sids.length]!;
      const r = await store.get(sid);
      return r && jsonCodec.decode(r.data, sid);
    };
  }
  return (i) => {
    const sid = sids[i % sids.length]!;
    return store.set(sid, jsonCodec.encode(sess, sid), { ttlMs: DAY });
  };
}
