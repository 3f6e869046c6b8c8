// The sign-in pages' cookies and CSRF check. Cookies are __Host- prefixed (Secure, Path=/, no
// Domain: no other host, not even a subdomain, can set or read them) and HttpOnly. A form
// carries the CSRF cookie's value in a hidden field; a POST whose field does not match the
// cookie, or whose Origin is another site, is refused.
import { timingSafeEqual } from "node:crypto";
import { randomSecret } from "../auth/secret.ts";

export const CSRF_COOKIE = "__Host-wicket-csrf";
export const SESSION_COOKIE = "__Host-wicket-session";

export function readCookies(req: Request): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (req.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq <= 0) continue;
    const name = part.slice(0, eq).trim();
    if (!(name in out)) out[name] = part.slice(eq + 1).trim();
  }
  return out;
}

/** Set-Cookie for one of our cookies; maxAgeMs 0 deletes it. */
export function cookie(name: string, value: string, maxAgeMs?: number): string {
  const age = maxAgeMs === undefined ? "" : `; Max-Age=${Math.max(0, Math.floor(maxAgeMs / 1000))}`;
  // Lax, not Strict: the OpenID Connect callback is a navigation from the provider's site.
  return `${name}=${value}; Path=/; Secure; HttpOnly; SameSite=Lax${age}`;
}

/** This browser's CSRF token, and the Set-Cookie to send when it is new. */
export function csrfToken(req: Request): { token: string; setCookie?: string } {
  const existing = readCookies(req)[CSRF_COOKIE];
  if (existing && /^[A-Za-z0-9_-]{43}$/.test(existing)) return { token: existing };
  const token = randomSecret();
  return { token, setCookie: cookie(CSRF_COOKIE, token) };
}

/** Whether a form POST comes from our own page in this browser. */
export function csrfOk(req: Request, form: URLSearchParams, origin: string): boolean {
  const o = req.headers.get("origin");
  if (o && o !== "null" && o !== origin) return false;
  if (req.headers.get("sec-fetch-site") === "cross-site") return false;
  const c = readCookies(req)[CSRF_COOKIE];
  const f = form.get("csrf");
  if (!c || typeof f !== "string" || c.length !== f.length) return false;
  return timingSafeEqual(Buffer.from(c), Buffer.from(f));
}

/** A return path that stays on this site: absolute path, no scheme, no `//host`, no backslashes. */
export function safeReturn(raw: unknown): string {
  const s = typeof raw === "string" ? raw : "";
  if (s.length > 512 || !s.startsWith("/") || s.startsWith("//") || /[\\\s\x00-\x1f]/.test(s)) return "/";
  try {
    const u = new URL(s, "https://edge.invalid");
    if (u.origin !== "https://edge.invalid") return "/";
    return u.pathname + u.search;
  } catch {
    return "/";
  }
}
