import { connect } from 'node:net';

/** One response as it came over the wire. */
export interface RawResponse {
  status: number;
  /** Header names in lower case; a repeated header has several values. */
  headers: Map<string, string[]>;
  body: Buffer;
}

export interface RawExchange {
  /** Every response on the connection, interim (1xx) ones included, in order. */
  responses: RawResponse[];
  /** Bytes that came back, as sent. */
  bytes: Buffer;
}

export interface RawOptions {
  /**
   * Destroy the connection this long after writing (a client that hangs up): no answer is
   * required, and an answer it cut short counts up to where it was cut (what came must still
   * be well-formed).
   */
  hangUpAfterMs?: number;
  /** Give up after this long without the server closing the connection. @default 5000 */
  timeoutMs?: number;
}

/**
 * Writes `request` on a new connection and reads until the server closes it (requests carry
 * `Connection: close`), then parses every response strictly: a malformed answer throws.
 */
export function rawExchange(url: string, request: Buffer | string, method: string, opts: RawOptions = {}): Promise<RawExchange> {
  const { hostname, port } = new URL(url);
  // For failure messages: the start of the request and of what came back.
  const asked = () => JSON.stringify(String(request).slice(0, 120));
  const excerpt = (bytes: Buffer, length: number) => JSON.stringify(bytes.toString('latin1').slice(0, length));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    // Whether this side ended the connection before the server closed it.
    let hungUp = false;
    const socket = connect(Number(port), hostname, () => {
      socket.write(request);
      if (opts.hangUpAfterMs !== undefined) {
        setTimeout(() => {
          hungUp = !socket.destroyed;
          socket.destroy();
        }, opts.hangUpAfterMs);
      }
    });
    const finish = (): void => {
      clearTimeout(timer);
      const bytes = Buffer.concat(chunks);
      try {
        resolve({ bytes, responses: opts.hangUpAfterMs !== undefined && bytes.length === 0 ? [] : parseResponses(bytes, method, hungUp) });
      } catch (err) {
        reject(new Error(`${(err as Error).message} in answer to ${asked()}: ${excerpt(bytes, 400)}`));
      }
    };
    const timer = setTimeout(() => {
      socket.destroy();
      const got = excerpt(Buffer.concat(chunks), 300);
      reject(new Error(`no end of answer within ${opts.timeoutMs ?? 5000} ms to ${asked()}; got ${got}`));
    }, opts.timeoutMs ?? 5000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', finish);
    socket.on('error', () => {}); // a reset after the answer still ends in 'close'
  });
}

const STATUS_LINE = /^HTTP\/1\.1 (\d{3}) [\x20-\x7e]*$/;
const HEADER_LINE = /^([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([\x20-\x7e\x80-\xff\t]*?)[ \t]*$/;

/** A body that ends before its framing says: an error unless the client cut it. */
class CutShort extends Error {
  constructor(
    message: string,
    readonly partial: Buffer,
  ) {
    super(message);
  }
}

/**
 * Every response in `bytes`; throws on anything that is not well-formed HTTP/1.1. `cut`: the
 * client hung up, so the last response may end early (its head, when it came whole, is still
 * checked; its body is what came).
 */
export function parseResponses(bytes: Buffer, method: string, cut = false): RawResponse[] {
  const out: RawResponse[] = [];
  let at = 0;
  while (at < bytes.length) {
    const end = bytes.indexOf('\r\n\r\n', at, 'latin1');
    if (end < 0 && cut && out.length > 0) return out;
    if (end < 0) throw new Error('a response head without its end');
    const lines = bytes.toString('latin1', at, end).split('\r\n');
    const statusMatch = STATUS_LINE.exec(lines[0]!);
    if (statusMatch === null) throw new Error(`not a status line: ${JSON.stringify(lines[0])}`);
    const status = Number(statusMatch[1]);
    if (status < 100 || status > 599) throw new Error(`status ${status} out of range`);
    const headers = new Map<string, string[]>();
    for (const line of lines.slice(1)) {
      const m = HEADER_LINE.exec(line);
      if (m === null) throw new Error(`not a header line: ${JSON.stringify(line)}`);
      const name = m[1]!.toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), m[2]!]);
    }
    at = end + 4;
    if (status < 200) {
      out.push({ status, headers, body: Buffer.alloc(0) });
      continue;
    }
    try {
      const [body, next] = readBody(bytes, at, headers, method === 'HEAD' || status === 204 || status === 304);
      out.push({ status, headers, body });
      at = next;
    } catch (err) {
      if (!(cut && err instanceof CutShort)) throw err;
      out.push({ status, headers, body: err.partial });
      return out;
    }
  }
  if (out.length === 0) throw new Error('no response');
  if (out.at(-1)!.status < 200) throw new Error('an interim response without a final one');
  return out;
}

function readBody(bytes: Buffer, at: number, headers: Map<string, string[]>, bodiless: boolean): [Buffer, number] {
  const lengths = headers.get('content-length');
  const te = headers.get('transfer-encoding');
  if (lengths !== undefined && te !== undefined) throw new Error('both Content-Length and Transfer-Encoding');
  if (lengths !== undefined && (lengths.length > 1 || !/^\d+$/.test(lengths[0]!))) throw new Error(`Content-Length ${lengths.join(',')}`);
  if (bodiless) return [Buffer.alloc(0), at];
  if (te !== undefined) {
    if (te.join(',').trim().toLowerCase() !== 'chunked') throw new Error(`Transfer-Encoding ${te.join(',')}`);
    const parts: Buffer[] = [];
    for (;;) {
      const lineEnd = bytes.indexOf('\r\n', at, 'latin1');
      if (lineEnd < 0) throw new CutShort('a chunked body cut short', Buffer.concat(parts));
      const size = Number.parseInt(bytes.toString('latin1', at, lineEnd), 16);
      if (!Number.isInteger(size) || size < 0) throw new Error('a bad chunk size');
      at = lineEnd + 2;
      if (size === 0) {
        if (at + 2 > bytes.length) throw new CutShort('a chunked body without its last CRLF', Buffer.concat(parts));
        if (bytes.toString('latin1', at, at + 2) !== '\r\n') throw new Error('a chunked body without its last CRLF');
        return [Buffer.concat(parts), at + 2];
      }
      if (at + size + 2 > bytes.length) throw new CutShort('a chunk cut short', Buffer.concat([...parts, bytes.subarray(at)]));
      parts.push(bytes.subarray(at, at + size));
      at += size + 2;
    }
  }
  if (lengths !== undefined) {
    const n = Number(lengths[0]);
    if (at + n > bytes.length) throw new CutShort(`a body of ${bytes.length - at} bytes where Content-Length is ${n}`, bytes.subarray(at));
    return [bytes.subarray(at, at + n), at + n];
  }
  return [bytes.subarray(at), bytes.length]; // delimited by the close
}
