export { Browser } from '@stowage/test-stores';

/** The session id inside a signed `connect.sid`-style cookie value (`s:<id>.<signature>`). */
export function sessionIdOf(cookie: string | undefined): string | undefined {
  if (cookie === undefined) return undefined;
  const value = decodeURIComponent(cookie);
  const m = /^s:([^.]+)\./.exec(value);
  return m ? m[1] : value.split('.')[0];
}
