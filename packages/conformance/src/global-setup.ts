/**
 * A vitest global setup that starts one container per requested image for the whole run,
 * instead of one per test file: `globalSetup: ['@stowage/conformance/global-setup']` in the
 * root config. Test files then get these containers from `redisBackends()` /
 * `postgresBackends()`; files share them, each in its own namespace. Nothing is started for
 * a kind whose URL variable (`REDIS_URL`, `DATABASE_URL`) is set, and an image that cannot
 * be started is left to each file, which then fails (or skips) with the usual message.
 *
 * @module
 */
import { type BackendKind, requestedImages, SETTINGS, SHARED_BACKENDS_VAR, startContainer } from './containers.js';

export default async function setup(): Promise<() => Promise<void>> {
  const wanted = (['redis', 'postgres'] as const)
    .filter((kind) => !process.env[SETTINGS[kind].urlVar])
    .flatMap((kind) => requestedImages(kind).map((image): [BackendKind, string] => [kind, image]));
  const started = await Promise.allSettled(wanted.map(([kind, image]) => startContainer(kind, image)));
  const shared: Record<string, string> = {};
  const stops: (() => Promise<void>)[] = [];
  started.forEach((result, i) => {
    if (result.status !== 'fulfilled') return;
    const [kind, image] = wanted[i]!;
    shared[`${kind} ${image}`] = result.value.url;
    stops.push(result.value.stop);
  });
  process.env[SHARED_BACKENDS_VAR] = JSON.stringify(shared);
  return async () => {
    await Promise.allSettled(stops.map((stop) => stop()));
  };
}
