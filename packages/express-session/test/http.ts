/** A tiny HTTP client with a cookie jar, for driving real apps over HTTP. */
export class Browser {
  private readonly jar = new Map<string, string>();

  constructor(private readonly base: string) {}

  async request(method: string, path: string, body?: unknown): Promise<{ status: number; json: any; setCookie: string[] }> {
    const headers: Record<string, string> = {};
    if (this.jar.size > 0) headers.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body !== undefined) headers['content-type'] = 'application/json';
    const res = await fetch(`${this.base}${path}`, { method, headers, ...(body === undefined ? {} : { body: JSON.stringify(body) }) });
    const setCookie = res.headers.getSetCookie();
    for (const c of setCookie) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const expired = attrs.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a));
      if (expired) this.jar.delete(name);
      else this.jar.set(name, pair!.slice(eq + 1).trim());
    }
    const text = await res.text();
    return { status: res.status, json: text.length > 0 ? JSON.parse(text) : undefined, setCookie };
  }

  cookie(name: string): string | undefined {
    return this.jar.get(name);
  }

  /** Another browser holding the same cookies (a copied cookie, or the same user on another replica). */
  clone(base = this.base): Browser {
    const b = new Browser(base);
    for (const [k, v] of this.jar) b.jar.set(k, v);
    return b;
  }
}

/** The session id inside a signed `connect.sid`-style cookie value (`s:<id>.<signature>`). */
export function sessionIdOf(cookie: string | undefined): string | undefined {
  if (cookie === undefined) return undefined;
  const value = decodeURIComponent(cookie);
  const m = /^s:([^.]+)\./.exec(value);
  return m ? m[1] : value.split('.')[0];
}
