import type { StreamStore } from '@stowage/core';
import { limitsOf, opener, type ConformanceOptions, type StoreFactory } from '../context.js';
import { streamAppendReadTests } from './streams/append-read.js';
import { streamBadInputTests } from './streams/bad-input.js';
import { streamClosingTests } from './streams/closing.js';
import { streamCreateTests } from './streams/create.js';
import { streamDeleteTests } from './streams/delete.js';
import { streamExpiryTests } from './streams/expiry.js';
import { streamForkTests } from './streams/forks.js';
import { streamProducerTests } from './streams/producers.js';
import { streamWaitTests } from './streams/wait.js';
import { streamWriterSeqTests } from './streams/writer-seq.js';

/** The StreamStore contract; each part registers its `describe` block, in this order. */
export function streamTests(factory: StoreFactory<StreamStore>, options: ConformanceOptions): void {
  const open = opener(factory, options);
  const limits = limitsOf(options);
  streamCreateTests(open);
  streamAppendReadTests(open, limits);
  streamWriterSeqTests(open);
  streamClosingTests(open);
  streamProducerTests(open);
  streamExpiryTests(open);
  streamForkTests(open);
  streamDeleteTests(open);
  streamWaitTests(open);
  streamBadInputTests(open);
}
