import type { IncomingMessage } from 'node:http';
import { source } from './protocol.js';
import { isReserved } from './subscription-routes.js';

/** What a request target names. */
export type Route =
  /** A stream: the decoded path after `basePath`, never empty. */
  | { kind: 'stream'; name: string; params: URLSearchParams }
  /** `basePath` itself (with or without its trailing slash), or `/` (outside `basePath`). */
  | { kind: 'root'; insideBase: boolean }
  /** `*`, the server-wide target (RFC 9110 §7.1: OPTIONS only). */
  | { kind: 'server' }
  /** A path outside `basePath`. */
  | { kind: 'outside' };

/** The route of a request; a target that is not a path, an absolute URL or `*`, or has a fragment, is `INVALID_ARGUMENT`. */
export function routeOf(basePath: string, req: IncomingMessage): Route {
  const url = req.url ?? '/';
  if (url === '*') return { kind: 'server' };
  let path: string;
  let query: string;
  const hash = url.indexOf('#');
  if (url.startsWith('/')) {
    const target = hash < 0 ? url : url.slice(0, hash);
    const q = target.indexOf('?');
    path = q < 0 ? target : target.slice(0, q);
    query = q < 0 ? '' : target.slice(q + 1);
  } else {
    // absolute-form (through a proxy): only its path and query count
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw source.invalid('the request target is not a path, an absolute URL or *');
    }
    // absolute-form is an http(s) URL (RFC 9112 section 3.2.2); `file:///t` names no stream here.
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw source.invalid('the request target is not a path, an absolute http(s) URL or *');
    }
    path = parsed.pathname;
    query = parsed.search.slice(1);
  }
  // What is not ours (outside basePath) goes to the host app as it came, whatever its form.
  let decoded: string;
  try {
    decoded = decodePath(path);
  } catch (err) {
    // Undecodable: ours when it starts with basePath as written or as encoded (`/a%20b/`).
    if (!under(path, basePath) && !under(path, encodePath(basePath))) return { kind: 'outside' };
    throw err;
  }
  if (!under(decoded, basePath)) {
    return decoded === '/' ? { kind: 'root', insideBase: false } : { kind: 'outside' };
  }
  // A fragment is the client's own (RFC 9110 section 4.2.5: never sent); a raw `#` here is not
  // part of any name, and a URL client could never reach a stream whose name held it.
  if (hash >= 0) throw source.invalid('the request target cannot have a fragment (#): write # in a stream name as %23');
  if (decoded === basePath || decoded === basePath.slice(0, -1)) return { kind: 'root', insideBase: true };
  const name = decoded.slice(basePath.length);
  // Under the reserved prefix (health, subscriptions) each route checks its own segments.
  if (!isReserved(name)) {
    const problem = segmentProblem(name);
    if (problem !== undefined) throw source.invalid(`a stream name cannot have ${problem}`);
  }
  return { kind: 'stream', name, params: new URLSearchParams(query) };
}

/** `path` is `base` (with or without its closing slash) or under it. */
function under(path: string, base: string): boolean {
  return path.startsWith(base) || path === base.slice(0, -1);
}

/** What makes `name` unfit for a stream, by its path segments (`. or .. as a path segment`, ...); `undefined` when fit. */
export function segmentProblem(name: string): string | undefined {
  const segments = name.split('/');
  // A URL client (WHATWG URL: browsers, fetch) resolves `.` and `..` segments, also written
  // `%2e`, so the stream's Location and every later request would reach another stream.
  if (segments.some((s) => s === '.' || s === '..')) return '. or .. as a path segment (URL clients resolve them away)';
  // Proxies and routers that merge slashes or drop a trailing one would send `a//b` to `a/b`.
  if (segments.includes('')) return 'an empty path segment (//, or a leading or trailing /)';
  return undefined;
}

/** The stream name of a path (percent-encoded, without query), `undefined` when outside `basePath`. */
export function nameOf(basePath: string, path: string): string | undefined {
  const decoded = decodePath(path);
  if (!decoded.startsWith(basePath)) return undefined;
  return decoded.slice(basePath.length);
}

function decodePath(path: string): string {
  try {
    return decodeURIComponent(path);
  } catch {
    throw source.invalid('the path is not valid percent-encoding');
  }
}

/**
 * A decoded path (a `basePath`) as it goes into a URL: each segment percent-encoded, so
 * `/a b/` is `/a%20b/` and `/x?y/` is `/x%3Fy/` (routing decodes it back).
 */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}
