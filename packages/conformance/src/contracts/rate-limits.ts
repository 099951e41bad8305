import type { RateLimitStore } from '@stowage/core';
import { opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { rateLimitAnchoredWindowTests } from './rate-limits/anchored-window.js';
import { rateLimitBadInputTests } from './rate-limits/bad-input.js';
import { rateLimitConcurrencyTests } from './rate-limits/concurrency.js';
import { rateLimitConsumeTests } from './rate-limits/consume.js';
import { rateLimitFixedWindowTests } from './rate-limits/fixed-window.js';
import { rateLimitGcraTests } from './rate-limits/gcra.js';
import { rateLimitMultiPolicyTests } from './rate-limits/multi-policy.js';
import { rateLimitReferenceTests } from './rate-limits/reference.js';
import { rateLimitSlidingWindowTests } from './rate-limits/sliding-window.js';

// The clock-step contract replays calls against the same reference model.
export { ReferenceModel, rng } from './rate-limits/fixtures.js';

/** The RateLimitStore contract; each part registers its `describe` block, in this order. */
export function rateLimitTests(factory: StoreFactory<RateLimitStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  rateLimitFixedWindowTests(open);
  rateLimitSlidingWindowTests(open);
  rateLimitGcraTests(open);
  rateLimitAnchoredWindowTests(open);
  rateLimitReferenceTests(open);
  rateLimitConsumeTests(open);
  rateLimitMultiPolicyTests(open);
  rateLimitConcurrencyTests(open);
  rateLimitBadInputTests(open);
}
