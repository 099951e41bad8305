import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { type BackendKind, requestedImages, type StartedBackend, startContainer } from '../src/backends.js';

// Needs a container engine of its own; with both URLs set (no containers) it is reported as skipped.
describe.skipIf(process.env.DATABASE_URL !== undefined && process.env.REDIS_URL !== undefined)('startContainer with a hostPort', () => {
  const started: StartedBackend[] = [];
  afterAll(() => Promise.all(started.map((c) => c.stop())));

  const kinds: Array<[BackendKind, number]> = [
    ['redis', 6379],
    ['postgres', 5432],
  ];
  for (const [kind, serverPort] of kinds) {
    const envName = kind === 'redis' ? 'REDIS_URL' : 'DATABASE_URL';
    it.skipIf(process.env[envName] !== undefined)(
      `${kind}: publishes its port on that host port only, and the url names it`,
      async () => {
        // Below Linux's ephemeral ports, as the README advises.
        const hostPort = 24000 + Math.floor(Math.random() * 8000);
        const c = await startContainer(kind, requestedImages(kind)[0]!, { hostPort });
        started.push(c);
        expect(new URL(c.url).port).toBe(String(hostPort));
        const ports = execFileSync('docker', ['port', c.id], { encoding: 'utf8' }).trim().split('\n');
        // One line per host address Docker binds (127.0.0.1 here; 0.0.0.0 and [::] by default).
        expect(ports.length).toBeGreaterThan(0);
        for (const line of ports) expect(line).toMatch(new RegExp(`^${serverPort}/tcp -> .+:${hostPort}$`));
      },
      60_000,
    );
  }
});
