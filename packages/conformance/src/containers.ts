/**
 * Containers for test backends, without vitest: used by `backends.ts` in test files and by
 * `global-setup.ts`, which vitest runs in its main process before any worker exists.
 *
 * @module
 */

export type BackendKind = 'redis' | 'postgres';

export const SETTINGS: Record<BackendKind, { urlVar: string; imagesVar: string; defaultImage: string }> = {
  redis: { urlVar: 'REDIS_URL', imagesVar: 'STOWAGE_REDIS_IMAGES', defaultImage: 'redis:8' },
  postgres: { urlVar: 'DATABASE_URL', imagesVar: 'STOWAGE_POSTGRES_IMAGES', defaultImage: 'postgres:17' },
};

/**
 * The variable through which the global setup hands its containers to the test files: JSON,
 * `{ "redis redis:7": "redis://127.0.0.1:32768", ... }`. Workers inherit it from the process
 * that started them.
 */
export const SHARED_BACKENDS_VAR = 'STOWAGE_SHARED_BACKENDS';

/** The images a run asks for: `STOWAGE_REDIS_IMAGES` / `STOWAGE_POSTGRES_IMAGES`, or the default. */
export function requestedImages(kind: BackendKind): string[] {
  const { imagesVar, defaultImage } = SETTINGS[kind];
  const list = (process.env[imagesVar] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  return list.length > 0 ? list : [defaultImage];
}

/** The URL of a container the global setup started for this image, if it did. */
export function sharedBackendUrl(kind: BackendKind, image: string): string | undefined {
  const shared = process.env[SHARED_BACKENDS_VAR];
  if (shared === undefined || shared === '') return undefined;
  return (JSON.parse(shared) as Record<string, string>)[`${kind} ${image}`];
}

/** A stop that runs once, however often it is called (several afterAll hooks may call it). */
function once(stop: () => Promise<unknown>): () => Promise<void> {
  let done: Promise<void> | undefined;
  return () => (done ??= stop().then(() => undefined));
}

export async function startContainer(kind: BackendKind, image: string): Promise<{ url: string; stop: () => Promise<void> }> {
  if (kind === 'redis') {
    const { RedisContainer } = await import('@testcontainers/redis');
    const c = await new RedisContainer(image).start();
    return { url: c.getConnectionUrl(), stop: once(() => c.stop()) };
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const c = await new PostgreSqlContainer(image).start();
  return { url: c.getConnectionUri(), stop: once(() => c.stop()) };
}
