import type { IdempotencyStore } from '@stowage/core';
import { limitsOf, opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { idempotencyBadInputTests } from './idempotency/bad-input.js';
import { idempotencyConcurrencyTests } from './idempotency/concurrency.js';
import { idempotencyExpiryTests } from './idempotency/expiry.js';
import { idempotencyReleaseExtendTests } from './idempotency/release-extend.js';
import { idempotencyReserveTests } from './idempotency/reserve.js';
import { idempotencyScopeTests } from './idempotency/scopes.js';
import { idempotencySizeLimitTests } from './idempotency/size-limit.js';

/** The IdempotencyStore contract; each part registers its `describe` block, in this order. */
export function idempotencyTests(factory: StoreFactory<IdempotencyStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  const limits = limitsOf(options);
  idempotencyReserveTests(open);
  idempotencyReleaseExtendTests(open);
  idempotencyExpiryTests(open, options);
  idempotencyScopeTests(open);
  idempotencySizeLimitTests(open, limits);
  idempotencyConcurrencyTests(open);
  idempotencyBadInputTests(open);
}
