import { createRequire } from 'node:module';
import { Idempotency } from '@node-idempotency/core';
import { MemoryStorageAdapter } from '@node-idempotency/storage-adapter-memory';
import { fingerprintRequest, jsonCodec, type RateLimitPolicy } from '@stowage/core';
import { MemoryIdempotencyStore, MemoryRateLimitStore, MemorySessionStore } from '@stowage/stores-memory';
import { RateLimiterMemory } from 'rate-limiter-flexible';
import type { Comparison } from '../harness.js';
import { keys, orderBody, responseBody, sessionObject } from './data.js';

const require = createRequire(import.meta.url);

interface CallbackStore {
  get(sid: string, cb: (err: unknown, sess?: unknown) => void): void;
  set(sid: string, sess: unknown, cb: (err?: unknown) => void): void;
}

function memorystore(): CallbackStore {
  const session = require('express-session') as { Store: unknown };
  const factory = require('memorystore') as (s: unknown) => new (o: object) => CallbackStore;
  const MemoryStore = factory(session);
  return new MemoryStore({ checkPeriod: 60_000 });
}

const getP = (s: CallbackStore, sid: string) => new Promise((res, rej) => s.get(sid, (e, v) => (e ? rej(e) : res(v))));
const setP = (s: CallbackStore, sid: string, sess: unknown) =>
  new Promise<void>((res, rej) => s.set(sid, sess, (e) => (e ? rej(e) : res())));

const DAY = 86_400_000;

export function memoryComparisons(): Comparison[] {
  const ipKeys = keys('ip', 10_000);
  const sids = keys('sid', 10_000);
  const sess = sessionObject();

  const rateLimit = (operation: string, key: (i: number) => string, limit: number): Comparison => {
    const policy: RateLimitPolicy = { algorithm: 'fixed-window', limit, windowMs: 60_000 };
    let ours: MemoryRateLimitStore;
    let theirs: RateLimiterMemory;
    return {
      contract: 'RateLimitStore',
      operation,
      backend: 'memory',
      ours: {
        library: 'stowage',
        setup: async () => {
          ours = new MemoryRateLimitStore();
          return (i) => ours.consume(key(i), policy);
        },
        teardown: () => ours.close(),
      },
      anchor: {
        library: 'rate-limiter-flexible RateLimiterMemory',
        setup: async () => {
          theirs = new RateLimiterMemory({ points: limit, duration: 60 });
          // A denied consume rejects with a RateLimiterRes: count it as an answer, not an error.
          return (i) => theirs.consume(key(i)).catch((r: unknown) => r);
        },
      },
    };
  };

  const sessions = (operation: string, kind: 'get' | 'set'): Comparison => {
    let ours: MemorySessionStore;
    let theirs: CallbackStore;
    return {
      contract: 'SessionStore',
      operation,
      backend: 'memory',
      ours: {
        library: 'stowage',
        setup: async () => {
          ours = new MemorySessionStore();
          for (const sid of sids) await ours.set(sid, jsonCodec.encode(sess, sid), { ttlMs: DAY });
          if (kind === 'get') {
            return async (i) => {
              const sid = sids[i % sids.length]!;
              const r = await ours.get(sid);
              return r && jsonCodec.decode(r.data, sid);
            };
          }
          return (i) => {
            const sid = sids[i % sids.length]!;
            return ours.set(sid, jsonCodec.encode(sess, sid), { ttlMs: DAY });
          };
        },
        teardown: () => ours.close(),
      },
      anchor: {
        library: 'memorystore',
        setup: async () => {
          theirs = memorystore();
          for (const sid of sids) await setP(theirs, sid, sess);
          return kind === 'get' ? (i) => getP(theirs, sids[i % sids.length]!) : (i) => setP(theirs, sids[i % sids.length]!, sess);
        },
      },
    };
  };

  const idempotency = (operation: string, kind: 'first' | 'replay'): Comparison => {
    let ours: MemoryIdempotencyStore;
    let theirs: Idempotency;
    const body = orderBody();
    const payload = JSON.stringify(body);
    const response = responseBody();
    const responseBytes = new TextEncoder().encode(JSON.stringify(response));
    const completed = keys('done', 10_000);
    let generation = 0;
    const key = (i: number) => (kind === 'replay' ? completed[i % completed.length]! : `${generation}-${i}`);
    const oursFirst = async (k: string) => {
      const fp = fingerprintRequest({ method: 'POST', path: '/orders', body: payload });
      const r = await ours.reserve('tenant-1', k, fp, { leaseMs: 30_000 });
      if (r.state === 'reserved') {
        await ours.complete(
          'tenant-1',
          k,
          r.token,
          { status: 201, headers: [['content-type', 'application/json']], body: responseBytes },
          { retentionMs: DAY },
        );
      }
      return r;
    };
    const theirsFirst = async (k: string) => {
      const req = { headers: { 'idempotency-key': k }, path: '/orders', method: 'POST', body };
      const cached = await theirs.onRequest(req);
      if (cached === undefined) await theirs.onResponse(req, { body: response });
      return cached;
    };
    return {
      contract: 'IdempotencyStore',
      operation,
      backend: 'memory',
      ours: {
        library: 'stowage',
        setup: async () => (i) => oursFirst(key(i)),
        reset: async () => {
          await ours?.close();
          ours = new MemoryIdempotencyStore();
          generation++;
          for (const k of completed) await oursFirst(k);
        },
        teardown: () => ours.close(),
      },
      anchor: {
        library: '@node-idempotency/core (memory)',
        setup: async () => (i) => theirsFirst(key(i)),
        reset: async () => {
          theirs = new Idempotency(new MemoryStorageAdapter(), { cacheTTLMS: DAY });
          generation++;
          for (const k of completed) await theirsFirst(k);
        },
      },
    };
  };

  return [
    rateLimit('consume, 10k keys, allowed', (i) => ipKeys[i % ipKeys.length]!, 1_000_000_000),
    rateLimit('consume, one key, denied', () => 'hot', 10),
    sessions('get + JSON decode, 10k sessions', 'get'),
    sessions('set + JSON encode, 10k sessions', 'set'),
    idempotency('reserve + complete, new keys', 'first'),
    idempotency('replay a completed key', 'replay'),
  ];
}
