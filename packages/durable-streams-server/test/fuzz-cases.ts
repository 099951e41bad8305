/**
 * The request fuzz table: methods × path shapes × header shapes, each case a raw HTTP/1.1
 * request (bytes as a client could send them, not as a client library would fix them up).
 */

/** The fuzz servers serve streams under this base path. */
export const BASE = '/ds/';

/** Every method of the protocol, two it does not know (one Node's parser refuses: BREW). */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'PROPFIND', 'BREW'] as const;

/** Request targets. No shape names `sentinel`, the stream the test reads back at the end. */
export const PATHS: Record<string, string> = {
  'root /': '/',
  'basePath without its slash': '/ds',
  basePath: '/ds/',
  'a stream': '/ds/fz',
  'trailing slash': '/ds/fz/',
  '//': '/ds//',
  'only slashes': '//',
  'encoded slash %2F': '/ds/a%2Fb',
  'dot segments': '/ds/a/../b',
  '..': '/ds/..',
  '%2e%2e': '/ds/%2e%2e/x',
  '%00': '/ds/x%00y',
  'invalid %zz': '/ds/x%zzy',
  'invalid UTF-8 %C3%28': '/ds/%C3%28',
  'name over the store limit (1500 bytes)': `/ds/${'n'.repeat(1500)}`,
  'very long name (16 KiB)': `/ds/${'n'.repeat(16 * 1024)}`,
  'non-ASCII, raw UTF-8': '/ds/été-流',
  'non-ASCII, percent-encoded': '/ds/%C3%A9t%C3%A9',
  'offset= empty': '/ds/fz?offset=',
  'offset=-1&live=sse on a missing stream': '/ds/missing?offset=-1&live=sse',
  'offset=now&live=long-poll': '/ds/fz?offset=now&live=long-poll',
  'query junk': '/ds/fz?offset=-1&offset=now&live=x&cursor=%zz',
  'absolute-form': 'http://x/ds/y',
  'absolute-form root': 'http://x',
  '*': '*',
  'outside basePath': '/elsewhere',
};

export interface HeaderShape {
  /** Header lines after Host (each without CRLF). */
  headers: string[];
  /** The body; its Content-Length is added unless `contentLength` says otherwise. */
  body?: string;
  /** A Content-Length that does not match the body. */
  contentLength?: number;
  /** The client hangs up this long after sending (a truncated body). */
  hangUpAfterMs?: number;
}

const JUNK_PRODUCER = ['Producer-Id: \t', 'Producer-Epoch: -1', 'Producer-Seq: 1e3'];

export const HEADERS: Record<string, HeaderShape> = {
  none: { headers: [] },
  'a body, no Content-Type': { headers: [], body: 'x' },
  'odd Content-Type': { headers: ['Content-Type: ;;;/=="'], body: 'x' },
  'JSON that does not parse': { headers: ['Content-Type: application/json'], body: '[{"a":' },
  'Stream-Closed: maybe': { headers: ['Content-Type: text/plain', 'Stream-Closed: maybe'], body: 'x' },
  'producer headers with junk': { headers: ['Content-Type: text/plain', ...JUNK_PRODUCER], body: 'x' },
  'fork and expiry junk': {
    headers: ['Stream-Forked-From: http://[', 'Stream-Fork-Sub-Offset: 9', 'Stream-TTL: 1', 'Stream-Expires-At: yesterday'],
  },
  'huge header (20 KB)': { headers: [`X-Big: ${'a'.repeat(20_000)}`] },
  'duplicated headers': {
    headers: [
      'Content-Type: text/plain',
      'Content-Type: application/json',
      'Stream-Closed: true',
      'Stream-Closed: true',
      'Producer-Id: a',
      'Producer-Id: b',
      'If-None-Match: *',
      'If-None-Match: "x"',
    ],
    body: '[1]',
  },
  'Content-Length smaller than the body': { headers: ['Content-Type: text/plain'], body: '0123456789', contentLength: 2 },
  'truncated body, then hang-up': { headers: ['Content-Type: text/plain'], body: '0123456789', contentLength: 100, hangUpAfterMs: 60 },
  'Expect: 100-continue': { headers: ['Content-Type: text/plain', 'Expect: 100-continue'], body: 'abc' },
  'malformed chunked body': {
    headers: ['Content-Type: text/plain', 'Transfer-Encoding: chunked'],
    body: 'zz\r\nabc\r\n0\r\n\r\n',
    contentLength: -1,
  },
};

/** The bytes of one case. Every request asks the server to close the connection after it. */
export function requestBytes(method: string, target: string, shape: HeaderShape): Buffer {
  const body = Buffer.from(shape.body ?? '', 'utf8');
  const lines = [`${method} ${target} HTTP/1.1`, 'Host: fuzz.test', 'Connection: close', ...shape.headers];
  const length = shape.contentLength ?? (body.length > 0 ? body.length : undefined);
  if (length !== undefined && length >= 0) lines.push(`Content-Length: ${length}`);
  return Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'utf8'), body]);
}
