/**
 * Test backends for adapter test suites: a Redis URL and a PostgreSQL URL per image.
 *
 * - `REDIS_URL` / `DATABASE_URL`, when set, win: one backend named after the variable.
 * - Otherwise one testcontainers container per image in `STOWAGE_REDIS_IMAGES` /
 *   `STOWAGE_POSTGRES_IMAGES` (comma-separated; defaults `redis:8` and `postgres:17`): the
 *   one `@stowage/conformance/global-setup` started for the run, else one for this file.
 * - When neither works, the run fails with a message that says what to set. Outside CI,
 *   `STOWAGE_SKIP_UNAVAILABLE=1` turns that into skipped (and reported as skipped) suites.
 *
 * `@testcontainers/redis`, `@testcontainers/postgresql` and `testcontainers` are optional peer
 * dependencies, loaded only when a container is needed.
 *
 * @module
 */
import { afterAll, describe } from 'vitest';
import { type BackendKind, requestedImages, SETTINGS, sharedBackendUrl, startContainer } from './containers.js';

export { type BackendKind, requestedImages, type StartedBackend, type StartOptions, startContainer } from './containers.js';

export interface TestBackend {
  kind: BackendKind;
  /** `redis:7`, `postgres:17`, or `REDIS_URL` / `DATABASE_URL`. */
  name: string;
  /** The connection URL; `undefined` when the backend could not be had (see `reason`). */
  url: string | undefined;
  /** Why `url` is missing. */
  reason?: string;
  /** The image, for containers. */
  image?: string;
  /** Stops what was started (a container); a no-op for URL backends and shared containers. */
  stop(): Promise<void>;
}

function skipAllowed(): boolean {
  return process.env.CI !== 'true' && process.env.STOWAGE_SKIP_UNAVAILABLE === '1';
}

function unavailableMessage(kind: BackendKind, image: string, cause: unknown): string {
  const { urlVar, imagesVar } = SETTINGS[kind];
  const why = cause instanceof Error ? cause.message : String(cause);
  return (
    `@stowage/conformance: no ${kind} backend for the tests. Starting the container ${image} failed (${why}). ` +
    `Set ${urlVar} to a running server, or make a container engine with the image available (${imagesVar} picks images). ` +
    (process.env.CI === 'true' ? 'In CI this fails the run.' : 'Locally, STOWAGE_SKIP_UNAVAILABLE=1 skips these suites instead.')
  );
}

/**
 * Resolves the backends of a kind (`images`, default every requested one), starting containers as needed. Throws (failing the test
 * file with a clear message) when one cannot be had, unless skipping is allowed.
 */
export async function testBackends(kind: BackendKind, images: readonly string[] = requestedImages(kind)): Promise<TestBackend[]> {
  const { urlVar } = SETTINGS[kind];
  const url = process.env[urlVar];
  if (url) return [{ kind, name: urlVar, url, stop: async () => {} }];
  const out: TestBackend[] = [];
  for (const image of images) {
    const shared = sharedBackendUrl(kind, image);
    if (shared !== undefined) {
      out.push({ kind, name: image, image, url: shared, stop: async () => {} });
      continue;
    }
    try {
      const started = await startContainer(kind, image);
      out.push({ kind, name: image, image, url: started.url, stop: started.stop });
    } catch (err) {
      const message = unavailableMessage(kind, image, err);
      if (!skipAllowed()) {
        await Promise.all(out.map((b) => b.stop()));
        throw new Error(message, { cause: err });
      }
      console.warn(message);
      out.push({ kind, name: image, image, url: undefined, reason: message, stop: async () => {} });
    }
  }
  return out;
}

/** @param images Which of the requested images (default: all of them). */
export const redisBackends = (images?: readonly string[]): Promise<TestBackend[]> => testBackends('redis', images);
/** @param images Which of the requested images (default: all of them). */
export const postgresBackends = (images?: readonly string[]): Promise<TestBackend[]> => testBackends('postgres', images);

/**
 * The images a suite that tests what sits on a store (middleware, a framework adapter, a
 * server) runs on: the first requested one, since what differs between server versions is the
 * store's business and its own suite runs on every image. `STOWAGE_EVERY_IMAGE=1` gives all.
 */
export function imagesForAppSuites(kind: BackendKind): string[] {
  const all = requestedImages(kind);
  return process.env.STOWAGE_EVERY_IMAGE === '1' ? all : all.slice(0, 1);
}

/**
 * One `describe` block per backend, named after it; stops containers after the block.
 * A backend that could not be had (only when skipping is allowed) is a skipped block.
 */
export function describeBackends(backends: TestBackend[], body: (backend: TestBackend & { url: string }) => void): void {
  for (const backend of backends) {
    if (backend.url === undefined) {
      describe.skip(`${backend.name} (unavailable: set ${SETTINGS[backend.kind].urlVar})`, () => {});
      continue;
    }
    describe(backend.name, () => {
      afterAll(() => backend.stop());
      body(backend as TestBackend & { url: string });
    });
  }
}
