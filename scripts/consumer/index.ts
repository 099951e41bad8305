// A consumer of every public entry point, compiled by the oldest TypeScript we support with
// skipLibCheck off, so our emitted .d.ts (and the types they pull in) are checked as users see them.
// scripts/check-packages.mjs fails when a package exports a subpath this file does not import.
import type * as conformance from '@stowage/conformance';
import type * as conformanceBackends from '@stowage/conformance/backends';
import type * as conformanceFaults from '@stowage/conformance/faults';
import type * as conformanceGlobalSetup from '@stowage/conformance/global-setup';
import type * as conformanceRaceWorker from '@stowage/conformance/race-worker';
import type * as core from '@stowage/core';
import type * as coreAdapterKit from '@stowage/core/adapter-kit';
import type * as durableStreamsServer from '@stowage/durable-streams-server';
import type * as expressRateLimit from '@stowage/express-rate-limit';
import type * as expressSession from '@stowage/express-session';
import type * as fastifyRateLimit from '@stowage/fastify-rate-limit';
import type * as jwks from '@stowage/jwks';
import type * as koaSession from '@stowage/koa-session';
import type * as middleware from '@stowage/middleware';
import type * as middlewareExpress from '@stowage/middleware/express';
import type * as middlewareFastify from '@stowage/middleware/fastify';
import type * as middlewareHono from '@stowage/middleware/hono';
import type * as nestjsThrottler from '@stowage/nestjs-throttler';
import type * as storesMemory from '@stowage/stores-memory';
import type * as storesPostgres from '@stowage/stores-postgres';
import type * as storesRedis from '@stowage/stores-redis';
import type * as storesSqlite from '@stowage/stores-sqlite';

export type EntryPoints = [
  typeof conformance,
  typeof conformanceBackends,
  typeof conformanceFaults,
  typeof conformanceGlobalSetup,
  typeof conformanceRaceWorker,
  typeof core,
  typeof coreAdapterKit,
  typeof durableStreamsServer,
  typeof expressRateLimit,
  typeof expressSession,
  typeof fastifyRateLimit,
  typeof jwks,
  typeof koaSession,
  typeof middleware,
  typeof middlewareExpress,
  typeof middlewareFastify,
  typeof middlewareHono,
  typeof nestjsThrottler,
  typeof storesMemory,
  typeof storesPostgres,
  typeof storesRedis,
  typeof storesSqlite,
];
