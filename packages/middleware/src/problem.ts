/** A response the middleware decided on, before a framework writes it. */
export interface ResponseDraft {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | string;
}

/**
 * An RFC 9457 problem details response (`application/problem+json`). `type` is a URN
 * naming the problem (`urn:stowage:problem:<code>`), so clients can branch on it.
 */
export function problem(
  status: number,
  code: string,
  title: string,
  detail?: string,
  headers: Record<string, string> = {},
): ResponseDraft {
  const body = JSON.stringify({ type: `urn:stowage:problem:${code}`, title, status, ...(detail === undefined ? {} : { detail }) });
  return { status, headers: { ...headers, 'Content-Type': 'application/problem+json' }, body };
}
