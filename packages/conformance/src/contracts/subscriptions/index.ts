import type { SubscriptionStore } from '@stowage/core';
import { opener, type ConformanceOptions, type StoreFactory } from '../../context.js';
import { racesReplicas } from '../../replicas.js';
import { subscriptionAliasingTests } from './aliasing.js';
import { subscriptionBadInputTests } from './bad-input.js';
import { subscriptionClosedTests } from './closed.js';
import { subscriptionCreateTests } from './create.js';
import { subscriptionFencingTests } from './fencing.js';
import { subscriptionPullWakeTests } from './pull-wake.js';
import { subscriptionRaceTests } from './races.js';
import { subscriptionSigningKeyTests } from './signing-keys.js';
import { subscriptionStreamTests } from './streams.js';
import { subscriptionWakeTests } from './wakes.js';
import { subscriptionWebhookTests } from './webhook.js';

export { SUBSCRIPTION_ORDER } from './check-order.js';
export { SUBSCRIPTION_DEADLINES } from './deadlines.js';

/**
 * The SubscriptionStore contract; each part registers its `describe` block, in this order. The
 * races split their callers over two stores on one namespace where the backend shares it
 * (`sharedNamespace`), and run on the one instance otherwise.
 */
export function subscriptionTests(factory: StoreFactory<SubscriptionStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  const shared = racesReplicas(options);
  subscriptionCreateTests(open);
  subscriptionStreamTests(open);
  subscriptionWakeTests(open);
  subscriptionWebhookTests(open);
  subscriptionPullWakeTests(open);
  subscriptionFencingTests(open);
  subscriptionSigningKeyTests(open);
  subscriptionAliasingTests(open);
  subscriptionBadInputTests(open);
  subscriptionClosedTests(open, shared);
  subscriptionRaceTests(open, shared);
}
