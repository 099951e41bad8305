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

/** A container a test run started. */
export interface StartedBackend {
  url: string;
  /** The Docker container id. */
  id: string;
  /** Stops and removes it; runs once however often it is called. */
  stop: () => Promise<void>;
}

export interface StartOptions {
  /**
   * The host port to publish the server's port on: a test that stops and starts the
   * container needs the same one back.
   * @default a free port Docker picks
   */
  hostPort?: number;
}

/** Starts a container of `image` for `kind` and waits until its server answers. */
export async function startContainer(kind: BackendKind, image: string, options: StartOptions = {}): Promise<StartedBackend> {
  const port = (container: number) => (options.hostPort === undefined ? [] : [{ container, host: options.hostPort }]);
  if (kind === 'redis') {
    const { RedisContainer } = await import('@testcontainers/redis');
    const c = await new RedisContainer(image).withExposedPorts(...port(6379)).start();
    return { url: c.getConnectionUrl(), id: c.getId(), stop: once(() => c.stop()) };
  }
  const [{ PostgreSqlContainer }, { Wait }] = await Promise.all([import('@testcontainers/postgresql'), import('testcontainers')]);
  // No Docker health check. @testcontainers/postgresql's runs `sh -c "pg_isready ..."` every
  // 250 ms for the container's life; one that outlives its 1 s timeout (a loaded machine, a
  // server stalled for a moment) has its shell killed, and the orphaned pg_isready is adopted
  // by the postmaster (PID 1). Its exit (2 for no answer within its 3 s, or death by SIGPIPE)
  // then reads as a crashed backend: every connection is dropped and the server runs crash
  // recovery. Readiness is asked at start instead, by a command that runs to its end; the
  // checks' CPU (a sixth of a core per idle container, measured on two cores) is saved too.
  const c = await new PostgreSqlContainer(image)
    .withExposedPorts(...port(5432))
    // Docker's way to have none; testcontainers' type names only the CMD forms.
    .withHealthCheck({ test: ['NONE'] as unknown as ['CMD', ...string[]] })
    .withWaitStrategy(Wait.forAll([Wait.forSuccessfulCommand('pg_isready -q -h 127.0.0.1 -p 5432'), Wait.forListeningPorts()]))
    .start();
  return { url: c.getConnectionUri(), id: c.getId(), stop: once(() => c.stop()) };
}
