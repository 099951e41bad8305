/** A tiny HTTP client with a cookie jar, for driving real apps over HTTP. */
export class Browser {
  private readonly jar = new Map<string, string>();

  constructor(private readonly base: string) {}

  async request(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
    // biome-ignore lint/suspicious/noExplicitAny: tests read the answer's fields directly
  ): Promise<{ status: number; json: any; setCookie: string[] }> {
    const sent: Record<string, string> = { ...headers };
    if (this.jar.size > 0) sent.cookie = [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body !== undefined) sent['content-type'] = 'application/json';
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: sent,
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
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
    let json: unknown;
    try {
      json = text.length > 0 ? JSON.parse(text) : undefined;
    } catch {
      json = text; // a framework's own error page (Koa's are plain text)
    }
    return { status: res.status, json, setCookie };
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
