import { describeBackends, redisBackends } from '@stowage/conformance/backends';
import { RedisStreamStore } from '@stowage/stores-redis';
import { Redis } from 'ioredis';
import { describeOfficialSuite, randomSuffix } from './helpers.js';

const backends = await redisBackends();

describeBackends(backends, (backend) => {
  describeOfficialSuite('official suite on RedisStreamStore', async () => {
    const client = new Redis(backend.url);
    const prefix = `ds:${randomSuffix()}:`;
    const store = new RedisStreamStore({ client, prefix });
    return {
      store,
      close: async () => {
        await store.close();
        // Local servers outlive the run: drop what the suite wrote.
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
          if (keys.length > 0) await client.unlink(...keys);
          cursor = next;
        } while (cursor !== '0');
        client.disconnect();
      },
    };
  });
});
