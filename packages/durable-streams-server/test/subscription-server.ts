import { createSubscriptionStore, type SubscriptionStore, type SubscriptionStoreOptions } from '@stowage/core';
import { createStreamsServer, type StreamsServer, type SubscriptionsOptions } from '../src/index.js';
import { type OpenedTestStore, testSigningKeys } from './helpers.js';

/** A server with subscriptions on a test store, under the base path `/s/`; its log lines kept. */
export interface SubscriptionServer {
  server: StreamsServer;
  subscriptions: SubscriptionStore;
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** The URL of a path under the base path. */
  url(path: string): string;
  logs: string[];
  close(): Promise<void>;
}

export interface SubscriptionServerOptions {
  subscriptions?: Partial<SubscriptionsOptions>;
  /** Options of the subscription store made over `opened.sessions` (ignored with `subscriptions.store`). */
  store?: Omit<SubscriptionStoreOptions, 'sessions'>;
  maxBodyBytes?: number;
}

export async function startSubscriptionServer(opened: OpenedTestStore, o: SubscriptionServerOptions = {}): Promise<SubscriptionServer> {
  const subscriptions = o.subscriptions?.store ?? createSubscriptionStore({ sessions: opened.sessions, ...o.store });
  const logs: string[] = [];
  const server = createStreamsServer({
    store: opened.store,
    basePath: '/s/',
    log: (line) => logs.push(line),
    ...(o.maxBodyBytes === undefined ? {} : { maxBodyBytes: o.maxBodyBytes }),
    subscriptions: {
      webhooks: true,
      signingKeys: testSigningKeys(),
      allowWebhookHosts: ['127.0.0.1'],
      pollIntervalMs: 10,
      ...o.subscriptions,
      store: subscriptions,
    },
  });
  const origin = await server.listen(0);
  return { server, subscriptions, origin, url: (path) => `${origin}/s/${path}`, logs, close: () => server.close() };
}

export const putJson = (body: unknown): RequestInit => ({
  method: 'PUT',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

export const postJson = (body: unknown, token?: string): RequestInit => ({
  method: 'POST',
  headers: { 'content-type': 'application/json', ...(token === undefined ? {} : { authorization: `Bearer ${token}` }) },
  body: JSON.stringify(body),
});

/** Polls `read` until `predicate` holds on its value (10 s at most). */
export async function eventuallyValue<T>(read: () => Promise<T>, predicate: (value: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (predicate(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms; last value: ${JSON.stringify(value)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export const getJson = async (url: string): Promise<any> => (await fetch(url)).json();

/** `real` with some methods replaced (the others called on `real` itself, private fields and all). */
export function overriding<T extends object>(real: T, overrides: Partial<T>): T {
  return new Proxy(real, {
    get(target, key) {
      if (key in overrides) return overrides[key as keyof T];
      const value = Reflect.get(target, key, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}
