import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Heartbeats } from './heartbeats.js';
import type { LiveWaits } from './live-waits.js';
import type { ResolvedOptions } from './options.js';
import type { ReadGate } from './read-gate.js';
import type { SendLimit } from './send-limit.js';
import type { SubscriptionRuntime } from './subscription-runtime.js';

/** One request to a named stream. */
export interface StreamRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** The stream's name: the decoded path after `basePath`. */
  name: string;
  params: URLSearchParams;
}

/** What every method's handler shares: the options and the live reads in flight. */
export interface HandlerContext {
  readonly o: ResolvedOptions;
  readonly live: LiveWaits;
  /** The heartbeats of the SSE responses that wait. */
  readonly heartbeats: Heartbeats;
  /** Where the reads of the store that answer responses wait for their turn. */
  readonly reads: ReadGate;
  /** The send time limit of every response (`sendTimeoutMs`). */
  readonly sends: SendLimit;
  /** Subscriptions, when enabled: appends and deletes are noted there. */
  readonly subs: SubscriptionRuntime | undefined;
}
