/**
 * Header lines in order, `[name, value]`, a name repeated for each line it has. Header names
 * are data: they are never keys of a plain object (`constructor`, `__proto__`).
 */
export type HeaderLines = [string, string][];

/** A response the middleware decided on, before a framework writes it. */
export interface ResponseDraft {
  status: number;
  headers: HeaderLines;
  body: Uint8Array | string;
}

/**
 * An RFC 9457 problem details response (`application/problem+json`). `type` is a URN
 * naming the problem (`urn:stowage:problem:<code>`), so clients can branch on it.
 */
export function problem(status: number, code: string, title: string, detail?: string, headers: HeaderLines = []): ResponseDraft {
  const body = JSON.stringify({ type: `urn:stowage:problem:${code}`, title, status, ...(detail === undefined ? {} : { detail }) });
  return { status, headers: [...headers, ['Content-Type', 'application/problem+json']], body };
}
