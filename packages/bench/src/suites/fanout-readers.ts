import { readFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';

/**
 * Many live readers of one stream on raw sockets (an HTTP/1.1 GET each, no `http.Agent`, no
 * response parser): what the client spends per reader is a socket and a string, so 10,000 of
 * them in one process leave the measured time to the server. A reader counts as answered when
 * the marker the append carries has reached it; the time is taken at that chunk.
 */

export type LiveMode = 'long-poll' | 'sse';

export interface Readers {
  /** Answer times, ms since `armed()` (one per reader that got the marker). */
  answered(): number[];
  /** How many got their response's first bytes (SSE: the stream began; long-poll: only once answered). */
  started(): number;
  /** Readers whose connection failed or closed before the marker came. */
  failed(): number;
  /** Readers not answered, by what they got instead: `HTTP 204`, `closed`, `nothing`... */
  unanswered(): Map<string, number>;
  /** Starts the clock: call just before the append. */
  armed(t0: number): void;
  /** Resolves once every reader has the marker, or `timeoutMs` after `armed`. */
  done(timeoutMs: number): Promise<void>;
  close(): void;
}

/**
 * Throws when this process may not open `need` more descriptors (Linux: the soft limit in
 * /proc/self/limits). Node cannot raise its own limit: run `ulimit -n <more>` in the shell.
 */
export function checkDescriptors(need: number): void {
  let limits: string;
  try {
    limits = readFileSync('/proc/self/limits', 'utf8');
  } catch {
    return; // not Linux: the connects fail with EMFILE instead, counted as failed readers
  }
  const soft = /^Max open files\s+(\d+|unlimited)/m.exec(limits)?.[1];
  if (soft !== undefined && soft !== 'unlimited' && Number(soft) < need + 64) {
    throw new Error(`${need} readers need ${need + 64} open files; the limit is ${soft}: raise it with ulimit -n`);
  }
}

/**
 * Opens `count` readers on `url` + `path` (offset at the tail), at most `parallel` connecting
 * at a time so the server's listen backlog does not overflow. Resolves once every request has
 * been written.
 */
export async function openReaders(
  url: string,
  path: string,
  mode: LiveMode,
  count: number,
  marker: string,
  parallel = 256,
): Promise<Readers> {
  const { hostname, port } = new URL(url);
  if (hostname !== '127.0.0.1' && hostname !== 'localhost') throw new Error(`readers connect to 127.0.0.1 only, not ${hostname}`);
  const sockets: Socket[] = [];
  /** Per reader: its status line once it came, whether it has the marker, whether its socket closed. */
  const state: { status: string; done: boolean; closed: boolean }[] = [];
  const times: number[] = [];
  let t0 = Number.NaN;
  let started = 0;
  let failed = 0;
  let finish: (() => void) | undefined;
  const request = `GET ${path}&live=${mode} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: ${mode === 'sse' ? 'text/event-stream' : '*/*'}\r\n\r\n`;
  const settle = () => {
    if (times.length + failed >= count) finish?.();
  };
  const open = (): Promise<void> =>
    new Promise<void>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port: Number(port), noDelay: true });
      sockets.push(socket);
      let seen = '';
      let done = false;
      const st = { status: '', done: false, closed: false };
      state.push(st);
      socket.setEncoding('latin1');
      socket.once('connect', () => socket.write(request, () => resolve()));
      socket.on('data', (chunk: string) => {
        if (done) return;
        if (seen.length === 0) {
          started++;
          st.status = chunk.slice(0, 12);
        }
        // Keep only what a marker split across chunks needs.
        seen = (seen + chunk).slice(-(marker.length + chunk.length));
        if (seen.includes(marker)) {
          done = true;
          st.done = true;
          times.push(performance.now() - t0);
          settle();
        }
      });
      const lost = () => {
        st.closed = true;
        if (done) return;
        done = true;
        failed++;
        resolve();
        settle();
      };
      socket.on('error', lost);
      socket.on('close', lost);
    });
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(parallel, count) }, async () => {
      while (next < count) {
        next++;
        await open();
      }
    }),
  );
  return {
    answered: () => times,
    started: () => started,
    failed: () => failed,
    unanswered: () => {
      const by = new Map<string, number>();
      for (const st of state) {
        if (st.done) continue;
        const what = `${st.status === '' ? 'nothing' : st.status.trim()}${st.closed ? ', closed' : ''}`;
        by.set(what, (by.get(what) ?? 0) + 1);
      }
      return by;
    },
    armed: (at) => {
      t0 = at;
    },
    done: (timeoutMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        finish = () => {
          clearTimeout(timer);
          resolve();
        };
        settle();
      }),
    close: () => {
      for (const s of sockets) s.destroy();
    },
  };
}
