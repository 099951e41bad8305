import { describeBackends, imagesForAppSuites, redisBackends } from '@stowage/conformance/backends';
import { describeOfficialSuite } from './helpers.js';
import { openRedisStore } from './stores.js';

describeBackends(await redisBackends(imagesForAppSuites('redis')), (backend) => {
  describeOfficialSuite('official suite on RedisStreamStore', () => openRedisStore(backend.url));
});
