#!/usr/bin/env node
/**
 * One replica of the app under test, in a process of its own: opens the stores of
 * `LIFECYCLE_SPEC` (a test-stores `BackendSpec` as JSON) in `LIFECYCLE_NAMESPACE`, listens on
 * a free port of 127.0.0.1 and prints `listening <url>`. SIGTERM closes it.
 *
 * @module
 */
import type { AddressInfo } from 'node:net';
import { openStoreSet, type BackendSpec } from '@stowage/test-stores';
import { createLifecycleApp } from './app.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const set = openStoreSet(JSON.parse(env('LIFECYCLE_SPEC')) as BackendSpec, env('LIFECYCLE_NAMESPACE'));
const app = await createLifecycleApp({
  stores: { sessions: set.sessions(), rateLimits: set.rateLimits(), idempotency: set.idempotency(), streams: set.streams() },
  replica: env('LIFECYCLE_REPLICA'),
  timeoutMs: Number(env('LIFECYCLE_TIMEOUT_MS')),
  sessionSecret: env('LIFECYCLE_SECRET'),
});
const server = app.listen(0, '127.0.0.1', () => {
  process.stdout.write(`listening http://127.0.0.1:${(server.address() as AddressInfo).port}\n`);
});
process.on('SIGTERM', () => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
});
