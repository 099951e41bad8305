export { createStreamsHandler, type Next, type StreamsRequestHandler } from './handler.js';
export { createStreamsServer, type StreamsServer } from './server.js';
export type { StreamsServerOptions } from './options.js';
export type { SubscriptionsOptions } from './subscription-options.js';
export { maskSecrets, openStore, type OpenedStore, type StoreSpecOptions } from './store-spec.js';
export {
  jsonLogger,
  LOG_LEVELS,
  type JsonLoggerOptions,
  type LogFields,
  type LogLevel,
  type ServerErrorContext,
  type ServerErrorHandler,
  type StreamsLogger,
} from './log.js';
