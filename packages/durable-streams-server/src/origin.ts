import type { IncomingMessage } from 'node:http';

// host[:port]: a name (RFC 3986 reg-name, without percent-escapes) or a bracketed IPv6
// address. The Host header comes from the client: anything else (a path, a query, spaces,
// userinfo, nothing at all) is not echoed into a URL.
const HOST = /^[A-Za-z0-9._-]{1,253}(?::\d{1,5})?$|^\[[0-9A-Fa-f:.]{2,45}\](?::\d{1,5})?$/;

/**
 * The origin the client addressed, e.g. `http://example.com:4437`, or `undefined` when the
 * request names no usable one. An absolute-form target (through a proxy) wins over the Host
 * header (RFC 9112 §3.2.2); the scheme is the target's, else that of the connection.
 */
export function requestOrigin(req: IncomingMessage): string | undefined {
  const url = req.url ?? '/';
  if (!url.startsWith('/') && url !== '*') {
    let target: URL | undefined;
    try {
      target = new URL(url);
    } catch {
      target = undefined;
    }
    if (target !== undefined && (target.protocol === 'http:' || target.protocol === 'https:') && HOST.test(target.host)) {
      return `${target.protocol}//${target.host}`;
    }
  }
  const host = req.headers.host;
  if (host === undefined || !HOST.test(host)) return undefined;
  const scheme = (req.socket as { encrypted?: boolean } | null)?.encrypted === true ? 'https' : 'http';
  return `${scheme}://${host}`;
}

/** The request's path as sent (percent-encoded, without the query), for either form of target. */
export function requestPath(req: IncomingMessage): string {
  const url = req.url ?? '/';
  if (url.startsWith('/')) return url.split('?')[0]!;
  return new URL(url).pathname; // routing has parsed it already
}
