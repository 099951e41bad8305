import { spawn, type ChildProcess } from 'node:child_process';

const CLI = new URL('../dist/cli.js', import.meta.url).pathname;

/** The test run's environment without what the CLI reads (PORT, HOST, STOWAGE_*): only a test's own count. */
function inherited(): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'PORT' && k !== 'HOST' && !k.startsWith('STOWAGE_')));
}

/** The built `stowage-streams` CLI in a child process, listening on a free port. */
export class CliProcess {
  readonly url: Promise<string>;
  /** What it wrote to stdout and stderr, chunks in the order they arrived (two pipes: lines may interleave). */
  readonly output: string[] = [];
  private readonly streams = { stdout: '', stderr: '' };
  /** The exit code once it has exited (`null` when a signal ended it unhandled). */
  readonly exited: Promise<number | null>;
  private readonly child: ChildProcess;

  /** `port: false`: no `--port 0` first on the command line (the port comes from the environment). */
  constructor(args: string[], env: NodeJS.ProcessEnv = {}, options: { port?: boolean } = {}) {
    this.child = spawn(process.execPath, [CLI, ...(options.port === false ? [] : ['--port', '0']), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...inherited(), ...env },
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)));
    const keep = (pipe: 'stdout' | 'stderr') => (c: Buffer) => {
      const text = c.toString('utf8');
      this.streams[pipe] += text;
      this.output.push(text);
    };
    this.child.stderr!.on('data', keep('stderr'));
    this.child.stdout!.on('data', keep('stdout'));
    this.url = new Promise<string>((resolve, reject) => {
      this.child.stdout!.on('data', () => {
        const out = this.streams.stdout;
        const m = /on (http:\/\/\S+?)\/? \(store/.exec(out);
        // Once the last start-up line is out: the signal handlers are in place by then.
        if (m && out.includes('Try: ')) resolve(m[1]!);
      });
      this.child.once('exit', (code) => reject(new Error(`stowage-streams exited with ${code}: ${this.output.join('')}`)));
    });
  }

  /**
   * The whole JSON log lines written so far, stdout's then stderr's (info and debug go to one,
   * warn and error to the other: which of two pipes the parent reads first is not ordered).
   * The start-up lines, plain text, are left out.
   */
  logLines(): Array<Record<string, unknown>> {
    return [this.streams.stdout, this.streams.stderr].flatMap((text) =>
      text
        .slice(0, text.lastIndexOf('\n') + 1)
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    );
  }

  get exitCode(): number | null {
    return this.child.exitCode;
  }

  /** Sends `signal` without waiting for the exit (see `exited`). */
  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** SIGTERM, and the exit code once it has closed. */
  stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.child.exitCode !== null) return Promise.resolve(this.child.exitCode);
    return new Promise((resolve) => {
      this.child.once('exit', (code) => resolve(code));
      this.child.kill(signal);
    });
  }
}
