import { createTestClock, describeRateLimitArithmetic, newNamespace } from '@stowage/conformance';
import { describeBackends, redisBackends } from '@stowage/conformance/backends';
import type { RateLimitStateColumns } from '@stowage/core/adapter-kit';
import { Redis } from 'ioredis';
import { afterAll } from 'vitest';
import { RedisRateLimitStore } from '../src/index.js';
import { dropPrefix } from './helpers.js';

const backends = await redisBackends();

/** One policy's part of the key's record (see rate_limit.lua): its id, zero-terminated, then 4 doubles. */
function packPolicy(id: string, c: RateLimitStateColumns, expiresAt: number): Buffer {
  const numbers = Buffer.alloc(32);
  for (const [i, n] of [c.mark, c.used, c.previous, expiresAt].entries()) numbers.writeDoubleLE(n, i * 8);
  return Buffer.concat([Buffer.from(`${id}\0`), numbers]);
}

function unpack(raw: Buffer): Map<string, RateLimitStateColumns> {
  const out = new Map<string, RateLimitStateColumns>();
  let pos = 8; // the key's expiry
  while (pos < raw.length) {
    const end = raw.indexOf(0, pos);
    const id = raw.subarray(pos, end).toString();
    const at = (i: number) => raw.readDoubleLE(end + 1 + i * 8);
    out.set(id, { mark: at(0), used: at(1), previous: at(2) });
    pos = end + 33;
  }
  return out;
}

// The Lua of rate_limit.lua, run by Redis, against the reference on every case.
describeBackends(backends, (backend) => {
  const client = new Redis(backend.url, { maxRetriesPerRequest: 2 });
  const prefix = newNamespace();
  afterAll(async () => {
    await dropPrefix(client, prefix);
    await client.quit();
  });
  const recordOf = (key: string) => `${prefix}r:{${key}}`;
  describeRateLimitArithmetic('stores-redis', async () => {
    await dropPrefix(client, prefix);
    const clock = createTestClock();
    const store = new RedisRateLimitStore({ client, prefix, clock });
    return {
      store,
      clock,
      seed: async (key, policy, c, expiresAt) => {
        const raw = (await client.getBuffer(recordOf(key))) ?? Buffer.alloc(8);
        const latest = Math.max(raw.readDoubleLE(0), expiresAt);
        const head = Buffer.alloc(8);
        head.writeDoubleLE(latest);
        const value = Buffer.concat([head, raw.subarray(8), packPolicy(policy.id, c, expiresAt)]);
        await client.set(recordOf(key), value, 'PX', 3_600_000);
      },
      stored: async (key, policy) => {
        const raw = await client.getBuffer(recordOf(key));
        return raw === null ? undefined : unpack(raw).get(policy.id);
      },
      close: () => store.close(),
    };
  });
});
