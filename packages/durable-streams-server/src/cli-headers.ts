import { type RawConfig, stringOption, UsageError } from './cli-config.js';

/** The headers every response carries for browsers and caches, as the server's options take them; unset: the server's default. */
export interface HeaderSettings {
  corsOrigin?: string | false;
  cacheControl?: string;
  crossOriginResourcePolicy?: (typeof POLICIES)[number];
}

const POLICIES = ['cross-origin', 'same-site', 'same-origin'] as const;

/** `--cors-origin`, `--cache-control` and `--cross-origin-resource-policy`, checked here so a bad one is a usage error (exit 2). */
export function headerSettingsOf(raw: RawConfig): HeaderSettings {
  const out: HeaderSettings = {};
  const cors = stringOption(raw, 'cors-origin');
  if (cors !== undefined) out.corsOrigin = corsOriginOf(cors);
  const cache = stringOption(raw, 'cache-control');
  if (cache !== undefined) {
    if (!/^[\x21-\x7e]([\x20-\x7e]*[\x21-\x7e])?$/.test(cache.value)) {
      throw new UsageError(
        `${cache.from} must be a header value of printable ASCII, e.g. "public, max-age=60", got ${JSON.stringify(cache.value)}`,
      );
    }
    out.cacheControl = cache.value;
  }
  const policy = stringOption(raw, 'cross-origin-resource-policy');
  if (policy !== undefined) {
    const known = POLICIES.find((p) => p === policy.value);
    if (known === undefined)
      throw new UsageError(`${policy.from} must be one of ${POLICIES.join(', ')}, got ${JSON.stringify(policy.value)}`);
    out.crossOriginResourcePolicy = known;
  }
  return out;
}

/**
 * `*`, `false` (no CORS headers at all) or one origin exactly as a browser sends it in `Origin`
 * (scheme, lower-case host, port only when not the scheme's own, no path): any other spelling
 * would never match a request, and the browser would refuse every response.
 */
function corsOriginOf(given: { value: string; from: string }): string | false {
  if (given.value === '*') return '*';
  if (given.value === 'false') return false;
  let origin: string | undefined;
  try {
    origin = new URL(given.value).origin;
  } catch {
    // not a URL: refused below
  }
  if (origin === undefined || origin === 'null' || origin !== given.value) {
    const rule = 'must be *, false or one origin such as https://app.example.com (scheme, host and port; no path)';
    throw new UsageError(`${given.from} ${rule}, got ${JSON.stringify(given.value)}`);
  }
  return origin;
}
