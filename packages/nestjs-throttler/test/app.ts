import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import { Controller, Get, type INestApplication, type LoggerService, Module } from '@nestjs/common';
import { APP_GUARD, NestFactory } from '@nestjs/core';
import { FastifyAdapter } from '@nestjs/platform-fastify';
import { Throttle, ThrottlerGuard, ThrottlerModule, type ThrottlerOptions } from '@nestjs/throttler';
import type { RateLimitStore } from '@stowage/core';
import { StowageThrottlerStorage, type StowageThrottlerStorageOptions } from '../src/index.js';

export type Platform = 'express' | 'fastify';

/**
 * What Nest logged as errors in this process (a store failure the guard let through: a 500).
 * One list for every app: Nest's `Logger` is a process-wide singleton, the last app's logger wins.
 */
export const logged: string[] = [];
export const PLATFORMS: readonly Platform[] = ['express', 'fastify'];

export interface NestApp {
  app: INestApplication;
  storage: StowageThrottlerStorage;
  get(path: string, client: string): Promise<Answer>;
  close(): Promise<void>;
}

export interface Answer {
  status: number;
  limit?: string;
  remaining?: string;
  reset?: string;
  retryAfter?: string;
}

// Decorators applied as calls (what `@Controller()` / `@Get()` compile to), so the test needs no
// decorator transform. Routes: `/ok` (the module's throttlers), `/strict` (limit 2 per 1 s,
// blocked 3.5 s), `/unblocked` (limit 2 per 1 s, blockDuration 0).
class LimitedController {
  ok() {
    return { ok: true };
  }
  strict() {
    return { strict: true };
  }
  unblocked() {
    return { unblocked: true };
  }
}
Controller()(LimitedController);
const route = (name: keyof LimitedController, ...decorators: MethodDecorator[]) => {
  const descriptor = Object.getOwnPropertyDescriptor(LimitedController.prototype, name)!;
  for (const decorate of [Get(name), ...decorators]) decorate(LimitedController.prototype, name, descriptor);
};
route('ok');
route('strict', Throttle({ default: { limit: 2, ttl: 1000, blockDuration: 3500 } }));
route('unblocked', Throttle({ default: { limit: 2, ttl: 1000, blockDuration: 0 } }));

/**
 * A real Nest 11 application on Express or Fastify, with the real ThrottlerGuard of
 * @nestjs/throttler as the global guard, on our storage over `store`, tracking clients by the
 * `x-client` header, listening on 127.0.0.1.
 */
export async function nestApp(
  platform: Platform,
  store: RateLimitStore,
  throttlers: ThrottlerOptions[],
  storageOptions: Partial<StowageThrottlerStorageOptions> = {},
): Promise<NestApp> {
  // A long deadline by default: other suites on a shared Redis hold the whole server (CLIENT PAUSE) for up to 2 s.
  const storage = new StowageThrottlerStorage({ store, timeoutMs: 5000, ...storageOptions });
  class AppModule {}
  Module({
    imports: [
      ThrottlerModule.forRoot({
        throttlers,
        storage,
        getTracker: (req: Record<string, { 'x-client'?: string }>) => req.headers!['x-client']!,
      }),
    ],
    controllers: [LimitedController],
    providers: [{ provide: APP_GUARD, useClass: ThrottlerGuard }],
  })(AppModule);
  const quiet = () => {};
  const logger: LoggerService = {
    log: quiet,
    warn: quiet,
    debug: quiet,
    verbose: quiet,
    error: (message: unknown) => void logged.push(String(message)),
  };
  const app =
    platform === 'fastify'
      ? await NestFactory.create(AppModule, new FastifyAdapter(), { logger })
      : await NestFactory.create(AppModule, { logger });
  await app.listen(0, '127.0.0.1');
  const { port } = app.getHttpServer().address() as AddressInfo;
  const get = async (path: string, client: string): Promise<Answer> => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { 'x-client': client } });
    await r.arrayBuffer();
    const header = (name: string) => r.headers.get(name) ?? undefined;
    return {
      status: r.status,
      limit: header('x-ratelimit-limit'),
      remaining: header('x-ratelimit-remaining'),
      reset: header('x-ratelimit-reset'),
      retryAfter: header('retry-after'),
    };
  };
  return { app, storage, get, close: () => app.close() };
}

/** Statuses of `n` requests sent one after another, alternating over `apps` (two replicas). */
export async function statuses(apps: NestApp[], path: string, client: string, n: number): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await apps[i % apps.length]!.get(path, client)).status);
  return out;
}

export { nextWindow, openRateLimitReplicas as openReplicas, type RateLimitReplicas as Replicas, roomInWindow } from '@stowage/test-stores';
