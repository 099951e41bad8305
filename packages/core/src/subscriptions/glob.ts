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
  // Iterative over plain segments; `**` tries each split point, at most once per position
  // because consecutive `**` collapse (so a pattern cannot make the match exponential).
  while (p < pattern.length) {
    const seg = pattern[p]!;
    if (seg === '**') {
      while (pattern[p + 1] === '**') p++;
      for (let k = n; k <= name.length; k++) if (matchFrom(pattern, p + 1, name, k)) return true;
      return false;
    }
    if (n >= name.length) return false;
    if (seg !== '*' && seg !== name[n]) return false;
    p++;
    n++;
  }
  return n === name.length;
}
