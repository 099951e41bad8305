import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Socket } from 'node:net';
import { newNamespace } from '@stowage/conformance';
import { redisBackends } from '@stowage/conformance/backends';
import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { TESTED_IOREDIS } from '../src/coalesce.js';
import { RedisRateLimitStore } from '../src/index.js';
import { countWrites, type Watched } from './count-writes.js';
import { startCluster } from './helpers.js';

// Write coalescing corks the socket ioredis keeps as `stream` (not documented by ioredis): these
// tests fail when the installed ioredis is not one it was tested on, or when what it reaches changed.

const require = createRequire(import.meta.url);
const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as {
  peerDependencies: Record<string, string>;
};
const backends = await redisBackends();
afterAll(() => Promise.all(backends.map((b) => b.stop())));

const policy = { algorithm: 'fixed-window', limit: 100, windowMs: 60_000 } as const;

describe('the ioredis that write coalescing was tested on', () => {
  it('the installed ioredis is a tested version, and the peer range admits no untested minor', () => {
    const installed = (require('ioredis/package.json') as { version: string }).version;
    expect(TESTED_IOREDIS).toContain(installed);
    const range = manifest.peerDependencies.ioredis!;
    // `~X.Y.Z`: X.Y.Z up to the next minor; every tested version is of that minor.
    const pinned = /^~(\d+)\.(\d+)\.\d+$/.exec(range);
    expect(pinned, `peer range ${range}`).not.toBeNull();
    for (const v of TESTED_IOREDIS) expect(v.startsWith(`${pinned![1]}.${pinned![2]}.`), v).toBe(true);
  });

  it('a ready Redis keeps its socket as `stream`', async () => {
    const client = new Redis(backends[0]!.url!);
    try {
      await client.ping();
      expect(client.status).toBe('ready');
      expect(client.stream).toBeInstanceOf(Socket);
    } finally {
      client.disconnect();
    }
  });

  it("a Cluster's connections, by nodes('all'), each keep their socket as `stream`; a store's calls on one key leave in batches", async () => {
    const local = await startCluster();
    const client = new Cluster(local.ports.map((port) => ({ host: '127.0.0.1', port })));
    try {
      const store = new RedisRateLimitStore({ client, prefix: newNamespace() });
      await store.consume('k', policy); // the slots, the clock sample and the script are known from here on
      const nodes = client.nodes('all');
      expect(nodes.length).toBe(3);
      const writes: number[][] = nodes.map(() => []);
      nodes.forEach((node, i) => {
        expect(node.status).toBe('ready');
        expect(node.stream).toBeInstanceOf(Socket);
        countWrites(node.stream as Watched, writes[i]!);
      });
      const decisions = await Promise.all(Array.from({ length: 40 }, () => store.consume('k', policy)));
      expect(decisions.map((d) => d.remaining).sort((a, b) => b - a)).toEqual(Array.from({ length: 40 }, (_, i) => 98 - i));
      // All 40 went to the key's master: the first alone, the rest in writes of 16 at most.
      expect(writes.filter((w) => w.length > 0)).toEqual([[1, 16, 16, 7]]);
    } finally {
      client.disconnect();
      local.stop();
    }
  });
});
