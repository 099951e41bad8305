import { connect, type Socket } from 'node:net';
import type { Reply } from './server-process.js';

/**
 * GETs whose 2xx bodies are counted, not received: the load generator of the catch-up rows.
 *
 * Why not Node's HTTP client: it allocates a fresh buffer for every socket read and pushes
 * each through a stream. On the 100 × 64 KiB catch-up (6.4 MiB a read, 64 in flight) it spent
 * 5.7 ms of user and 3.8 ms of system CPU per read, more than either server, so on 2 cores the
 * ratio measured the client (undici's `Pool` was no better: 5.7 + 3.3 ms). Here each
 * connection reads into one buffer it reuses (`net`'s `onread`), parses the head, and counts
 * a `Content-Length` or chunked body: 0.4 + 1.7 ms a read (2026-12-03, same servers).
 *
 * HTTP/1.1 over kept-alive connections, one request in flight per connection. A request on a
 * reused connection the server had closed (idle past its keep-alive timeout) is sent once more
 * on a new one, as for any GET. A non-2xx body is kept, for the error message.
 */
export class CountingClient {
  private readonly idle: Connection[] = [];
  private readonly open = new Set<Connection>();

  constructor(
    private readonly host: string,
    private readonly port: number,
  ) {}

  async get(path: string): Promise<Reply> {
    let conn = this.idle.pop();
    const reused = conn !== undefined;
    conn ??= this.connect();
    try {
      const { reply, keepAlive } = await conn.get(path, `${this.host}:${this.port}`);
      if (keepAlive) this.idle.push(conn);
      else conn.close();
      return reply;
    } catch (err) {
      conn.close();
      if (reused && err instanceof ClosedBeforeAnswer) return this.get(path);
      throw err;
    }
  }

  close(): void {
    for (const c of this.open) c.close();
  }

  private connect(): Connection {
    const conn = new Connection(this.host, this.port, () => {
      this.open.delete(conn);
      const at = this.idle.indexOf(conn);
      if (at >= 0) this.idle.splice(at, 1);
    });
    this.open.add(conn);
    return conn;
  }
}

/** The connection closed before any byte of the answer: the request may be sent again. */
class ClosedBeforeAnswer extends Error {}

const HEAD_END = Buffer.from('\r\n\r\n');
/** A request with no answer for this long fails (a kept-alive connection idle this long is closed). */
const ANSWER_TIMEOUT_MS = 60_000;

type Body =
  | { kind: 'head' }
  | { kind: 'sized'; left: number }
  | { kind: 'chunk-size'; line: string }
  | { kind: 'chunk-data'; left: number }
  | { kind: 'chunk-end'; line: string }
  | { kind: 'trailer'; line: string }
  | { kind: 'until-close' };

interface Pending {
  resolve: (r: { reply: Reply; keepAlive: boolean }) => void;
  reject: (err: Error) => void;
  head: Buffer[];
  received: boolean;
  state: Body;
  status: number;
  headers: Record<string, string>;
  size: number;
  kept: Buffer[] | undefined;
}

class Connection {
  private readonly socket: Socket;
  private readonly buffer = Buffer.allocUnsafe(256 * 1024);
  private pending: Pending | undefined;
  private closed = false;
  private timedOut = false;

  constructor(host: string, port: number, onClose: () => void) {
    this.socket = connect({ host, port, onread: { buffer: this.buffer, callback: (n) => this.feed(this.buffer, n) } });
    this.socket.setNoDelay(true);
    this.socket.setTimeout(ANSWER_TIMEOUT_MS, () => {
      this.timedOut = true;
      this.socket.destroy();
    });
    this.socket.on('error', () => undefined); // 'close' follows and settles the request
    this.socket.on('close', (hadError) => {
      this.closed = true;
      onClose();
      const p = this.pending;
      this.pending = undefined;
      if (p === undefined) return;
      if (this.timedOut) p.reject(new Error(`no answer within ${ANSWER_TIMEOUT_MS} ms`));
      // A close-delimited body ends with the connection, unless it was reset (then it was cut).
      else if (p.state.kind === 'until-close' && !hadError) this.settle(p, false);
      else p.reject(p.received ? new Error('connection closed in the middle of an answer') : new ClosedBeforeAnswer('connection closed'));
    });
  }

  get(path: string, host: string): Promise<{ reply: Reply; keepAlive: boolean }> {
    if (this.closed) return Promise.reject(new ClosedBeforeAnswer('connection closed'));
    return new Promise((resolve, reject) => {
      this.pending = {
        resolve,
        reject,
        head: [],
        received: false,
        state: { kind: 'head' },
        status: 0,
        headers: {},
        size: 0,
        kept: undefined,
      };
      this.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    });
  }

  close(): void {
    this.socket.destroy();
  }

  /** Reads what arrived into the answer in progress; `true`: keep reading (`onread`'s contract). */
  private feed(b: Buffer, end: number): boolean {
    const p = this.pending;
    if (p === undefined) {
      this.socket.destroy(); // bytes nobody asked for
      return false;
    }
    p.received = true;
    let i = 0;
    while (i < end && this.pending === p) {
      const s = p.state;
      switch (s.kind) {
        case 'head':
          i = this.readHead(p, b, i, end);
          break;
        case 'sized':
        case 'chunk-data': {
          const take = Math.min(s.left, end - i);
          this.count(p, b, i, take);
          s.left -= take;
          i += take;
          if (s.left > 0) break;
          if (s.kind === 'sized') this.settle(p, true);
          else p.state = { kind: 'chunk-end', line: '' };
          break;
        }
        case 'until-close':
          this.count(p, b, i, end - i);
          i = end;
          break;
        default: {
          const nl = b.indexOf(10, i);
          const stop = nl < 0 || nl >= end ? end : nl + 1;
          s.line += b.toString('latin1', i, stop);
          i = stop;
          if (s.line.endsWith('\n')) this.lineDone(p, s.kind, s.line.trim());
        }
      }
    }
    return true;
  }

  private readHead(p: Pending, b: Buffer, i: number, end: number): number {
    // Most heads arrive whole in one read: searched in place, since copying the read (the body
    // behind the head too) was most of this client's CPU time. A head cut across reads is kept
    // as a copy (the read buffer is reused) until its end arrives.
    const before = p.head.reduce((n, h) => n + h.length, 0);
    const all = before === 0 ? b.subarray(i, end) : Buffer.concat([...p.head, b.subarray(i, end)]);
    const at = all.indexOf(HEAD_END);
    if (at < 0) {
      p.head = [Buffer.from(all)];
      return end;
    }
    const [statusLine = '', ...lines] = all.toString('latin1', 0, at).split('\r\n');
    const rest = i + (at + HEAD_END.length - before);
    const started = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine);
    if (started === null) {
      this.fail(p, `bad status line ${JSON.stringify(statusLine.slice(0, 80))}`);
      return end;
    }
    const status = Number(started[1]);
    if (status >= 100 && status < 200) {
      // An interim answer (100 Continue, 103 Early Hints): the real one follows.
      p.head = [];
      return rest;
    }
    p.status = status;
    const lengths: string[] = [];
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      p.headers[name] = value;
      if (name === 'content-length') lengths.push(...value.split(',').map((v) => v.trim()));
    }
    if (p.status >= 300) p.kept = [];
    // Digits only, and every copy the same number (RFC 9110 section 8.6); anything else is refused.
    const length = lengths.length === 0 ? undefined : Number(lengths[0]);
    if (length !== undefined && (!lengths.every((v) => /^\d+$/.test(v) && Number(v) === length) || !Number.isSafeInteger(length))) {
      this.fail(p, `bad Content-Length ${JSON.stringify(lengths.join(', '))}`);
      return end;
    }
    if (p.status === 204 || p.status === 304) this.settle(p, true);
    else if (p.headers['transfer-encoding']?.toLowerCase().includes('chunked')) p.state = { kind: 'chunk-size', line: '' };
    else if (length === 0) this.settle(p, true);
    else if (length !== undefined) p.state = { kind: 'sized', left: length };
    else p.state = { kind: 'until-close' };
    return rest;
  }

  private lineDone(p: Pending, kind: 'chunk-size' | 'chunk-end' | 'trailer', line: string): void {
    if (kind === 'chunk-end') {
      if (line === '') p.state = { kind: 'chunk-size', line: '' };
      else this.fail(p, `chunk data longer than its size, then ${JSON.stringify(line.slice(0, 80))}`);
    } else if (kind === 'trailer') {
      if (line === '') this.settle(p, true);
      else p.state = { kind: 'trailer', line: '' };
    } else {
      const hex = line.split(';', 1)[0]!.trim(); // a chunk extension after ';' is ignored
      const size = /^[0-9a-fA-F]{1,13}$/.test(hex) ? Number.parseInt(hex, 16) : Number.NaN;
      if (Number.isNaN(size)) this.fail(p, `bad chunk size line ${JSON.stringify(line.slice(0, 80))}`);
      else p.state = size === 0 ? { kind: 'trailer', line: '' } : { kind: 'chunk-data', left: size };
    }
  }

  /** The answer cannot be read: the request fails and the connection is dropped. */
  private fail(p: Pending, message: string): void {
    this.pending = undefined;
    p.reject(new Error(message));
    this.socket.destroy();
  }

  private count(p: Pending, b: Buffer, from: number, n: number): void {
    p.size += n;
    p.kept?.push(Buffer.from(b.subarray(from, from + n)));
  }

  private settle(p: Pending, framed: boolean): void {
    this.pending = undefined;
    const keepAlive = framed && p.headers.connection?.toLowerCase() !== 'close';
    p.resolve({ reply: { status: p.status, headers: p.headers, body: Buffer.concat(p.kept ?? []), size: p.size }, keepAlive });
  }
}
