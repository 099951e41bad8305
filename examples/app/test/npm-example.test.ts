import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';

// The repository's `npm run example`: npm runs its script through `sh -c`, and without `exec`
// the shell stayed between npm and the app. A SIGTERM to npm (docker stop, systemd, a process
// manager) ended npm and the shell and left the app running, never told to shut down.

const ROOT = new URL('../../../', import.meta.url).pathname;
const EXAMPLE = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { example: string } }).scripts.example;

/** The test run's environment without what npm or the app read from it, and the app's store and address. */
function environment(dir: string): NodeJS.ProcessEnv {
  const kept = Object.entries(process.env).filter(
    ([k]) => !/^npm_/i.test(k) && !k.startsWith('STOWAGE_') && !['PORT', 'HOST', 'INIT_CWD', 'JWKS_URI', 'SESSION_SECRET'].includes(k),
  );
  return {
    ...Object.fromEntries(kept),
    npm_config_update_notifier: 'false',
    npm_config_fund: 'false',
    STOWAGE_STORE: `sqlite:${join(dir, 'example.db')}`,
    PORT: '0',
    HOST: '127.0.0.1',
  };
}

/** Whether any process of the group `pgid` is left. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

const dir = mkdtempSync(join(tmpdir(), 'stowage-npm-example-'));
let child: ChildProcess | undefined;
afterAll(() => {
  // Whatever is left of the group (an app the old script left running), killed.
  if (child !== undefined && groupAlive(child.pid!)) process.kill(-child.pid!, 'SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

it('npm run example: SIGTERM to npm reaches the app, which shuts down; npm exits 0 and nothing is left', async () => {
  // The root's script word for word, in a directory of its own: `examples` and `packages` link to
  // the repository's, and `build` does nothing (the test command has built everything). In a
  // process group of its own, so that what is left of it can be seen and killed.
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true, scripts: { build: 'true', example: EXAMPLE } }));
  symlinkSync(join(ROOT, 'examples'), join(dir, 'examples'));
  symlinkSync(join(ROOT, 'packages'), join(dir, 'packages'));
  const npm = spawn('npm', ['run', 'example'], { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: environment(dir) });
  child = npm;
  const output: string[] = [];
  for (const pipe of [npm.stdout!, npm.stderr!]) pipe.on('data', (c: Buffer) => output.push(c.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    npm.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const url = await new Promise<string>((resolve, reject) => {
    npm.stdout!.on('data', () => {
      const m = /Stowage example on (http:\/\/\S+) /.exec(output.join(''));
      if (m) resolve(m[1]!);
    });
    npm.once('exit', (code) => reject(new Error(`npm run example exited with ${code}: ${output.join('')}`)));
  });
  expect((await fetch(`${url}/account/me`)).status).toBe(200);

  process.kill(npm.pid!, 'SIGTERM');
  // npm waits for its script: once it has exited, the app has (it was left running before).
  expect(await exited).toEqual({ code: 0, signal: null });
  expect(groupAlive(npm.pid!)).toBe(false);
  await expect(fetch(`${url}/account/me`)).rejects.toThrow();
});
