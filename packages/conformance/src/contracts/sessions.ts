import type { SessionStore } from '@stowage/core';
import { limitsOf, opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { sessionBadInputTests } from './sessions/bad-input.js';
import { sessionCompareAndSwapTests } from './sessions/compare-and-swap.js';
import { sessionDestroyTests } from './sessions/destroy.js';
import { sessionExpiryTests, sessionPruneTests } from './sessions/expiry.js';
import { sessionOwnerTests } from './sessions/owners.js';
import { sessionRotateTests } from './sessions/rotate.js';
import { sessionSetGetTests } from './sessions/set-get.js';

/** The SessionStore contract; each part registers its `describe` block, in this order. */
export function sessionTests(factory: StoreFactory<SessionStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  const limits = limitsOf(options);
  sessionSetGetTests(open, limits);
  sessionCompareAndSwapTests(open);
  sessionExpiryTests(open);
  sessionOwnerTests(open);
  sessionDestroyTests(open);
  sessionRotateTests(open);
  sessionPruneTests(open, options);
  sessionBadInputTests(open);
}
