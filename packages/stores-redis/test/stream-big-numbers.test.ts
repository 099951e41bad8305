import { newNamespace } from '@stowage/conformance';
import { describeBackends, redisBackends } from '@stowage/conformance/backends';
import { StowageError, type StreamProducer, type StreamStore } from '@stowage/core';
import { MemoryStreamStore } from '@stowage/stores-memory';
import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisStreamStore, type RedisClient } from '../src/index.js';
import { dropPrefix, startCluster, type LocalCluster } from './helpers.js';

const MAX = Number.MAX_SAFE_INTEGER; // 2^53 - 1
const BIG = 123_456_789_012_345; // 15 digits: more than cjson's 14

interface Outcome {
  code: string;
  details: Record<string, unknown> | undefined;
}

/**
 * Producer claims whose refusals carry numbers of 10^14 and more in their details; every
 * outcome, as the store reports it (the memory store is the reference).
 */
async function outcomes(store: StreamStore): Promise<Outcome[]> {
  await store.create('big', { contentType: 'text/plain' });
  const claim = async (producer: StreamProducer): Promise<Outcome> => {
    try {
      await store.append('big', [new TextEncoder().encode('x')], { contentType: 'text/plain', producer });
      return { code: 'OK', details: undefined };
    } catch (err) {
      if (!(err instanceof StowageError)) throw err;
      return { code: err.code, details: err.details };
    }
  };
  return [
    await claim({ id: 'p', epoch: MAX, seq: 0 }),
    await claim({ id: 'p', epoch: MAX - 1, seq: 0 }), // FENCED, currentEpoch 2^53 - 1
    await claim({ id: 'p', epoch: MAX, seq: MAX }), // CONFLICT: expected 1, received 2^53 - 1
    await claim({ id: 'q', epoch: BIG, seq: MAX - 1 }), // CONFLICT: a new producer starts at 0
    await claim({ id: 'q', epoch: BIG, seq: 0 }),
    await claim({ id: 'q', epoch: BIG - 5, seq: 0 }), // FENCED, currentEpoch BIG
    await claim({ id: 'q', epoch: BIG + 1, seq: BIG }), // a new epoch starts at 0
  ];
}

describe('the memory store (the reference)', () => {
  it('reports every producer number of a refusal exactly', async () => {
    const store = new MemoryStreamStore();
    expect(await outcomes(store)).toEqual([
      { code: 'OK', details: undefined },
      { code: 'FENCED', details: { currentEpoch: MAX } },
      { code: 'CONFLICT', details: { expectedSeq: 1, receivedSeq: MAX } },
      { code: 'CONFLICT', details: { expectedSeq: 0, receivedSeq: MAX - 1 } },
      { code: 'OK', details: undefined },
      { code: 'FENCED', details: { currentEpoch: BIG } },
      { code: 'INVALID_ARGUMENT', details: { epochSeq: true, receivedSeq: BIG } },
    ]);
    await store.close();
  });
});

async function expectSameAsMemory(client: RedisClient): Promise<void> {
  const prefix = newNamespace();
  const store = new RedisStreamStore({ client, prefix, timeoutMs: 5000 });
  const memory = new MemoryStreamStore();
  try {
    const got = await outcomes(store);
    expect(got).toEqual(await outcomes(memory));
    // Numbers, not strings that look like them: the server turns them into headers.
    expect(typeof got[1]!.details!['currentEpoch']).toBe('number');
  } finally {
    await store.close();
    await memory.close();
    await dropPrefix(client, prefix);
  }
}

describeBackends(await redisBackends(), (backend) => {
  describe('RedisStreamStore: error details with numbers near 2^53 - 1', () => {
    let client: Redis;
    beforeAll(() => {
      client = new Redis(backend.url);
    });
    afterAll(() => client.quit());
    it('match the memory store exactly (FENCED and CONFLICT)', () => expectSameAsMemory(client));
  });
});

describe('RedisStreamStore on a 3-master Cluster: error details with numbers near 2^53 - 1', () => {
  let cluster: LocalCluster;
  let client: Cluster;
  beforeAll(async () => {
    cluster = await startCluster();
    client = new Cluster(cluster.ports.map((port) => ({ host: '127.0.0.1', port })));
    await client.ping();
  });
  afterAll(async () => {
    await client?.quit();
    cluster?.stop();
  });
  it('match the memory store exactly (FENCED and CONFLICT)', () => expectSameAsMemory(client));
});
