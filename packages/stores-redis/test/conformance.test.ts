import { conformanceOn } from './conformance-suite.js';

// The node-redis run of the same suite: conformance-node-redis.test.ts.
await conformanceOn('ioredis');
