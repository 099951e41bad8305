import { type ErrorSource, HTTP_TOKEN } from '@stowage/core/adapter-kit';

/** A whole HTTP token: what a method or a header name is. */
const TOKEN = new RegExp(`^${HTTP_TOKEN}$`);

function token(source: ErrorSource, field: string, value: unknown): string {
  if (typeof value !== 'string' || !TOKEN.test(value)) {
    throw source.invalid(`${field} must be an HTTP token (letters, digits, and !#$%&'*+.^_\`|~-), got ${typeof value}`, { field });
  }
  return value;
}

/** A header name option (as the user spells it), or `fallback` when absent. */
export function headerNameOption(source: ErrorSource, field: string, value: unknown, fallback: string): string {
  return value === undefined ? fallback : token(source, field, value);
}

/** A list of HTTP tokens (methods, header names), or `fallback` when absent; each as given. */
export function tokenListOption(source: ErrorSource, field: string, value: unknown, fallback: readonly string[]): readonly string[] {
  if (value === undefined) return fallback;
  if (!Array.isArray(value)) throw source.invalid(`${field} must be an array of strings`, { field });
  return value.map((v, i) => token(source, `${field}[${i}]`, v));
}
