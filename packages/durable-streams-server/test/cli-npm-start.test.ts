import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { appendInTwoParts, reached } from './held-append.js';
import { eventually } from './instrumented-store.js';

// The repository's `npm start`: npm runs its script through `sh -c`, and the shell used to stay
// between npm and the server. A SIGTERM to npm (docker stop, systemd) killed npm and the shell
// and left the server running, never told to shut down.

const ROOT = new URL('../../../', import.meta.url).pathname;
const START = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The test run's environment without what npm or the CLI read from it (npm_*, STOWAGE_*, PORT, HOST). */
function environment(): NodeJS.ProcessEnv {
  const kept = Object.entries(process.env).filter(
    ([k]) => !/^npm_/i.test(k) && !k.startsWith('STOWAGE_') && k !== 'PORT' && k !== 'HOST' && k !== 'INIT_CWD',
  );
  return { ...Object.fromEntries(kept), npm_config_update_notifier: 'false', npm_config_fund: 'false' };
}

/**
 * The root's start script, word for word, run by npm in a directory of its own: `packages`
 * links to the repository's, and `build` does nothing (the test command has built everything;
 * a build here could race another test reading `dist`). In a process group of its own, as a
 * terminal gives a foreground job, so that a test can signal the group as Ctrl-C does.
 */
class NpmStart {
  readonly output: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly url: Promise<string>;
  private readonly child: ChildProcess;

  constructor(dir: string, args: string[]) {
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ private: true, scripts: { build: 'true', start: START } }));
    symlinkSync(join(ROOT, 'packages'), join(dir, 'packages'));
    this.child = spawn('npm', ['start', '--', ...args], {
      cwd: dir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: environment(),
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    for (const pipe of [this.child.stdout!, this.child.stderr!]) pipe.on('data', (c: Buffer) => this.output.push(c.toString('utf8')));
    this.url = new Promise((resolve, reject) => {
      this.child.stdout!.on('data', () => {
        const text = this.text();
        const m = /on (http:\/\/\S+?)\/? \(store/.exec(text);
        if (m && text.includes('Try: ')) resolve(m[1]!);
      });
      this.child.once('exit', (code) => reject(new Error(`npm start exited with ${code}: ${this.text()}`)));
    });
  }

  text(): string {
    return this.output.join('');
  }

  /** `group`: to npm, the shell and the server at once, as a terminal's Ctrl-C. */
  signal(signal: NodeJS.Signals, group = false): void {
    process.kill(group ? -this.child.pid! : this.child.pid!, signal);
  }

  /** Whatever is left of the group (a server the old script left running), killed. */
  kill(): void {
    try {
      process.kill(-this.child.pid!, 'SIGKILL');
    } catch {
      // the group is gone: all of it exited
    }
  }
}

/** `npm start` of a memory store with a stream `s` and an append to it held half sent. */
async function startedWithAppendHeld(dir: string) {
  const npm = new NpmStart(dir, ['--store', 'memory', '--port', '0', '--log-level', 'warn']);
  const url = await npm.url;
  expect((await fetch(`${url}/s`, { method: 'PUT', headers: { 'Content-Type': 'text/plain' } })).status).toBe(201);
  const held = appendInTwoParts(`${url}/s`, 'x');
  await reached(held, url);
  return { npm, url, held };
}

describe('npm start passes signals on to the server', () => {
  const dirs: string[] = [];
  const newDir = () => {
    const dir = mkdtempSync(join(tmpdir(), 'stowage-npm-start-'));
    dirs.push(dir);
    return dir;
  };
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('SIGTERM to npm alone: the server shuts down cleanly (the append in flight lands) and npm exits 0', async () => {
    const { npm, held } = await startedWithAppendHeld(newDir());
    try {
      // The script names no store (the default is its file): ours is the one used.
      expect(npm.text()).toContain('(store: memory)');
      npm.signal('SIGTERM');
      expect(await eventually(() => npm.text().includes('SIGTERM: closing'), 15_000)).toBe(true);
      held.second('y');
      expect(await held.answered).toMatchObject({ status: 204 });
      expect(await npm.exited).toEqual({ code: 0, signal: null });
    } finally {
      held.abort();
      npm.kill();
    }
  });

  it('Ctrl-C (SIGINT to the whole group; npm passes on a copy) is one clean shutdown, not a forced exit', async () => {
    const { npm, held } = await startedWithAppendHeld(newDir());
    try {
      npm.signal('SIGINT', true);
      expect(await eventually(() => npm.text().includes('SIGINT: closing'), 15_000)).toBe(true);
      // Room for npm's copy of the signal to arrive while the append is still held: it used to
      // count as a second signal, which exits at once (code 1) and cuts the append.
      await sleep(500);
      held.second('y');
      expect(await held.answered).toMatchObject({ status: 204 });
      expect(await npm.exited).toEqual({ code: 0, signal: null });
      expect(npm.text()).not.toContain('again');
    } finally {
      held.abort();
      npm.kill();
    }
  });
});
