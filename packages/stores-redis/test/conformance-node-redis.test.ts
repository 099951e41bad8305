import { conformanceOn } from './conformance-suite.js';

// The ioredis run of the same suite: conformance.test.ts.
await conformanceOn('node-redis');
