import type { ServerResponse } from 'node:http';
import type { HeaderLines } from './problem.js';

// Node >= 15.13 has it; @types/node 20 does not declare it.
type WithRawNames = ServerResponse & { getRawHeaderNames(): string[] };

/**
 * The header lines Node sends for `res`'s progressive headers (`setHeader`, `appendHeader`,
 * Express's `res.set` / `res.append`): names as they were first set (`getRawHeaderNames`),
 * one line per value of an array, in Node's order.
 */
export function outgoingHeaderLines(res: ServerResponse): HeaderLines {
  const lines: HeaderLines = [];
  for (const name of (res as WithRawNames).getRawHeaderNames()) addLines(lines, name, res.getHeader(name));
  return lines;
}

/**
 * The header lines of a response whose `writeHead(status, [reason,] headers)` has returned.
 * When a header was set before, Node merged `headers` into the progressive ones; when none
 * was, Node wrote `headers` as given, bypassing `getHeaders()`: an object, a flat array
 * `[name, value, name, value]` or an array of `[name, value]` pairs, repeats kept.
 */
export function writtenHeaderLines(res: ServerResponse, headers: unknown): HeaderLines {
  if ((res as WithRawNames).getRawHeaderNames().length > 0 || headers === undefined || headers === null || typeof headers !== 'object') {
    return outgoingHeaderLines(res);
  }
  const lines: HeaderLines = [];
  if (Array.isArray(headers)) {
    if (headers.length > 0 && Array.isArray(headers[0])) {
      for (const pair of headers as unknown[][]) addLines(lines, String(pair[0]), pair[1]);
    } else {
      for (let i = 0; i + 1 < headers.length; i += 2) addLines(lines, String(headers[i]), headers[i + 1]);
    }
    return lines;
  }
  // Node reads own enumerable keys the same way (for...in with hasOwn).
  for (const name in headers) if (Object.hasOwn(headers, name)) addLines(lines, name, (headers as Record<string, unknown>)[name]);
  return lines;
}

function addLines(lines: HeaderLines, name: string, value: unknown): void {
  if (value === undefined) return;
  if (Array.isArray(value)) for (const v of value) lines.push([name, String(v)]);
  else lines.push([name, String(value)]);
}

/**
 * Sets `lines` on `res` as they are (names as given, each repeated name a line of its own,
 * values of one name in order), replacing any header of the same name set before.
 */
export function setHeaderLines(res: ServerResponse, lines: HeaderLines): void {
  const replaced = new Set<string>();
  for (const [name, value] of lines) {
    const field = name.toLowerCase();
    if (!replaced.has(field)) {
      replaced.add(field);
      res.removeHeader(name);
    }
    res.appendHeader(name, value);
  }
}

/** The names (lower case) of `res`'s progressive headers now. */
export function headerNamesNow(res: ServerResponse): Set<string> {
  return new Set((res as WithRawNames).getRawHeaderNames().map((n) => n.toLowerCase()));
}

/**
 * `lines` without the headers a hook added while the head was written (on-headers, as
 * `compression()` adds `Content-Encoding`): only names set `before` or given to `writeHead`.
 */
export function setByHandler(lines: HeaderLines, before: Set<string>, given: unknown): HeaderLines {
  const names = new Set(before);
  if (Array.isArray(given)) {
    if (given.length > 0 && Array.isArray(given[0])) for (const pair of given as unknown[][]) names.add(String(pair[0]).toLowerCase());
    else for (let i = 0; i < given.length; i += 2) names.add(String(given[i]).toLowerCase());
  } else if (given !== null && typeof given === 'object') {
    for (const name in given) if (Object.hasOwn(given, name)) names.add(name.toLowerCase());
  }
  return lines.filter(([name]) => names.has(name.toLowerCase()));
}
