// The sign-in pages' cookies and CSRF check. Cookies are __Host- prefixed (Secure, Path=/, no
// Domain: no other host, not even a subdomain, can set or read them) and HttpOnly. A form
// carries the CSRF cookie's value in a hidden field; a POST whose field does not match the
// cookie, or whose Origin is another site, is refused. Forms that act for a signed-in person
// (approving a device) carry a token bound to the session cookie as well.
import { createHmac, timingSafeEqual } from "node:crypto";
import { randomSecret } from "../../auth/secret.ts";

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

/** Whether the browser says the request came from a page on another site. */
function crossSite(req: Request, origin: string): boolean {
  const o = req.headers.get("origin");
  return (!!o && o !== "null" && o !== origin) || req.headers.get("sec-fetch-site") === "cross-site";
}

const sameToken = (expected: string | undefined, given: unknown) =>
  !!expected && typeof given === "string" && expected.length === given.length && timingSafeEqual(Buffer.from(expected), Buffer.from(given));

/** Whether a form POST comes from our own page in this browser. */
export function csrfOk(req: Request, form: URLSearchParams, origin: string): boolean {
  return !crossSite(req, origin) && sameToken(readCookies(req)[CSRF_COOKIE], form.get("csrf"));
}

/**
 * The token of a form that acts for a signed-in person: this browser's CSRF token keyed with
 * its session cookie. A CSRF cookie and token taken from another browser (the attacker's own),
 * or a CSRF cookie planted in this one, do not make it without the session cookie's secret.
 */
export const sessionFormToken = (csrf: string, sessionCookie: string) => createHmac("sha256", sessionCookie).update(`wicket-form:${csrf}`).digest("base64url");

/** Whether a form POST comes from our own page, shown to this browser's session. */
export function sessionFormOk(req: Request, form: URLSearchParams, origin: string): boolean {
  const c = readCookies(req);
  const csrf = c[CSRF_COOKIE];
  const session = c[SESSION_COOKIE];
  return !crossSite(req, origin) && !!csrf && !!session && sameToken(sessionFormToken(csrf, session), form.get("csrf"));
}

/**
 * A return path that stays on this site: absolute path, no scheme, no `//host`, no backslashes.
 * The checks hold for the normalized path too (`/.//evil.example` normalizes to
 * `//evil.example`), so one pass is enough and a second changes nothing.
 */
export function safeReturn(raw: unknown): string {
  const ok = (s: string) => s.length <= 512 && s.startsWith("/") && !s.startsWith("//") && !/[\\\s\x00-\x1f]/.test(s);
  const s = typeof raw === "string" ? raw : "";
  if (!ok(s)) return "/";
  try {
    const u = new URL(s, "https://edge.invalid");
    const out = u.pathname + u.search;
    return u.origin === "https://edge.invalid" && ok(out) ? out : "/";
  } catch {
    return "/";
  }
}
