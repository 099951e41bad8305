import { type ConformanceContext, describeConformance } from '@stowage/conformance';
import { type MapBackend, MapLockStore, MapRateLimitStore, MapSessionStore, type MapStoreOptions } from '../src/index.js';

// One backend for the whole file, as one Redis server for every test: each test gets its own
// namespace, and a second store opened with the same ctx is a second replica on it.
const backend: MapBackend = new Map();

// `ctx.clock` is undefined in the real-time tests, and the store must then read its own clock.
// `clock: ctx.clock` compiles under exactOptionalPropertyTypes because core's StoreOptionsBase
// declares `clock?: Clock | undefined`.
const options = (ctx: ConformanceContext): MapStoreOptions => ({ backend, prefix: ctx.namespace, clock: ctx.clock });

describeConformance({
  name: 'map',
  sessions: (ctx) => new MapSessionStore(options(ctx)),
  rateLimits: (ctx) => new MapRateLimitStore(options(ctx)),
  locks: (ctx) => new MapLockStore(options(ctx)),
  // Stores share a namespace's records (`sharedNamespace` keeps its default, true), so the
  // suite races each contract's atomic step across two of them.
  teardown: (ctx) => {
    for (const table of backend.keys()) if (table.startsWith(`${ctx.namespace}:`)) backend.delete(table);
  },
});
