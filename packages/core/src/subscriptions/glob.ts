/**
 * Stream-name patterns of subscriptions: segments separated by `/`; `*` is exactly one
 * segment, `**` zero or more; any other segment matches itself. Leading and trailing `/` are
 * ignored, so `events/*` and `/events/*` are one pattern.
 */
export function matchesPattern(pattern: string, stream: string): boolean {
  return matchFrom(segments(pattern), 0, segments(stream), 0);
}

/** A stream name or pattern without leading or trailing slashes. */
export function normalizeStreamPath(path: string): string {
  return path.replace(/^\/+/, '').replace(/\/+$/, '');
}

function segments(path: string): string[] {
  return normalizeStreamPath(path)
    .split('/')
    .filter((s) => s.length > 0);
}

function matchFrom(pattern: readonly string[], p: number, name: readonly string[], n: number): boolean {
  // Dynamic programming over segments, O(pattern x name): `next[j]` says whether
  // pattern[i + 1..] matches name[j..]. No backtracking, so no pattern makes an append slow.
  let next = new Array<boolean>(name.length + 1).fill(false);
  next[name.length] = true;
  for (let i = pattern.length - 1; i >= p; i--) {
    const seg = pattern[i]!;
    const here = new Array<boolean>(name.length + 1).fill(false);
    for (let j = name.length; j >= n; j--) {
      if (seg === '**') here[j] = next[j]! || (j < name.length && here[j + 1]!);
      else here[j] = j < name.length && (seg === '*' || seg === name[j]) && next[j + 1]!;
    }
    next = here;
  }
  return next[n]!;
}
