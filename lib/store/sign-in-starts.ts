// Short-lived state of a sign-in in progress: one-time PINs sent by e-mail, and the state,
// nonce and PKCE verifier of an OpenID Connect login. Each is bound to the browser that
// started it (a hash of its CSRF cookie), so a PIN or a callback cannot be used elsewhere.
import { createHash, timingSafeEqual } from "node:crypto";
import { hashSecret, randomId } from "../auth/secret.ts";
import type { BigIntColumn, Store } from "./open.ts";
import { ALL_ROWS, ms } from "./open.ts";

/** Wrong guesses a PIN takes before it is locked. */
export const PIN_ATTEMPTS = 5;

type PinRow = { id: string; email: string; pin_hash: string; browser_hash: string; attempts: number; created_at: BigIntColumn; expires_at: BigIntColumn; used_at: BigIntColumn | null };
type OidcLoginRow = { state_hash: string; idp: string; nonce: string; code_verifier: string; browser_hash: string; return_to: string; created_at: BigIntColumn; expires_at: BigIntColumn };

const pinHash = (id: string, pin: string) => createHash("sha256").update(`${id}:${pin}`).digest("hex");

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, "hex");
  const y = Buffer.from(b, "hex");
  return x.length === y.length && timingSafeEqual(x, y);
}

/**
 * PIN characters: digits and capitals without 0, 1, I and O, which read alike. There are 32,
 * so a random byte maps to one without bias, and 8 of them make 32^8 = 2^40 PINs: with the
 * edge's guess limits (lib/edge/signin/rate-limit.ts) guessing one is hopeless.
 */
export const PIN_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
export const PIN_LENGTH = 8;
/** A PIN as mailed, as the source of a regular expression. */
export const PIN_PATTERN = `[${PIN_ALPHABET}]{${PIN_LENGTH}}`;
const PIN_RE = new RegExp(`^${PIN_PATTERN}$`);

/** A uniformly random PIN. */
export function randomPin(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(PIN_LENGTH)), (b) => PIN_ALPHABET[b % PIN_ALPHABET.length]).join(""); // 256 = 8 × 32
}

/** A PIN as a person may type it: lower case, spaces and dashes do not matter. */
export const normalizePin = (typed: string) => typed.toUpperCase().replace(/[\s-]/g, "");

/** PINs sent to this address since `since`, for rate limiting. */
export async function countRecentPins(store: Store, email: string, since: number): Promise<number> {
  const [row]: { n: BigIntColumn }[] = await store.sql`SELECT COUNT(*) AS n FROM pins WHERE email = ${email} AND created_at > ${since}`;
  return Number(row.n);
}

/**
 * PINs (sent or not) the store keeps at most; a new one past this pushes out the oldest, which
 * then answers as an unknown id does. Anyone may ask for one, for any mailbox, and no limit
 * shared by the edge refuses an address that has not used its share, so the store is bounded
 * here (as device codes and OpenID Connect starts are).
 */
export const MAX_PINS = 10_000;

/**
 * A new PIN for `email`, bound to this browser. The caller mails it, or does not: a PIN for a
 * mailbox no policy names is made all the same and never told to anyone (lib/edge/signin/
 * recipients.ts), so every request costs the same statements, leaves the same kind of row on
 * every node, and is counted, guessed, locked and pushed out as any other.
 */
export async function createPin(store: Store, email: string, browser: string, lifetimeMs: number, maxPins = MAX_PINS): Promise<{ id: string; pin: string; expiresAt: number }> {
  const id = randomId("wkp_", 12);
  const pin = randomPin();
  const now = Date.now();
  await store.sql`DELETE FROM pins WHERE expires_at < ${now - 86_400_000}`;
  await store.sql`INSERT INTO pins (id, email, pin_hash, browser_hash, attempts, created_at, expires_at)
    VALUES (${id}, ${email}, ${pinHash(id, pin)}, ${hashSecret(browser)}, ${0}, ${now}, ${now + lifetimeMs})`;
  await store.sql`DELETE FROM pins WHERE id IN (SELECT id FROM pins ORDER BY created_at DESC, id DESC LIMIT ${ALL_ROWS} OFFSET ${maxPins})`;
  return { id, pin, expiresAt: now + lifetimeMs };
}

export type PinResult = { ok: true; email: string } | { ok: false; why: "wrong"; left: number; email: string } | { ok: false; why: "locked" | "expired" | "used" | "unknown" };

/**
 * Checks a PIN. Every attempt is counted first, in one statement, so parallel guesses
 * cannot get past the limit; the fifth wrong one locks the PIN for good.
 */
export async function verifyPin(store: Store, id: string, pin: string, browser: string): Promise<PinResult> {
  const now = Date.now();
  const [row]: Pick<PinRow, "email" | "pin_hash" | "browser_hash" | "attempts">[] = await store.sql`UPDATE pins SET attempts = attempts + 1
    WHERE id = ${id} AND attempts < ${PIN_ATTEMPTS} AND used_at IS NULL AND expires_at > ${now}
    RETURNING email, pin_hash, browser_hash, attempts`;
  if (!row) {
    const [r]: Pick<PinRow, "attempts" | "used_at" | "expires_at">[] = await store.sql`SELECT attempts, used_at, expires_at FROM pins WHERE id = ${id}`;
    if (!r) return { ok: false, why: "unknown" };
    if (r.used_at !== null && r.used_at !== undefined) return { ok: false, why: "used" };
    if (Number(r.attempts) >= PIN_ATTEMPTS) return { ok: false, why: "locked" };
    return { ok: false, why: ms(r.expires_at) <= now ? "expired" : "unknown" };
  }
  const typed = normalizePin(pin);
  // A PIN from another browser counts as a wrong guess: it is not this browser's to use.
  const good = sameHex(row.browser_hash, hashSecret(browser)) && PIN_RE.test(typed) && sameHex(row.pin_hash, pinHash(id, typed));
  if (!good) {
    const left = PIN_ATTEMPTS - Number(row.attempts);
    return left > 0 ? { ok: false, why: "wrong", left, email: row.email } : { ok: false, why: "locked" };
  }
  const used = await store.sql`UPDATE pins SET used_at = ${now} WHERE id = ${id} AND used_at IS NULL RETURNING id`;
  return used.length === 1 ? { ok: true, email: row.email } : { ok: false, why: "used" };
}

export type OidcLogin = { idp: string; nonce: string; codeVerifier: string; returnTo: string };

/**
 * OpenID Connect sign-ins in progress the edge keeps at most; a new one past this pushes out
 * the oldest. Anyone may start one, and no limit shared by the edge refuses a browser that
 * has not used its address's share, so the store is bounded here (as device codes are).
 */
export const MAX_PENDING_OIDC_LOGINS = 10_000;

export async function saveOidcLogin(store: Store, state: string, browser: string, l: OidcLogin, lifetimeMs: number, maxPending = MAX_PENDING_OIDC_LOGINS): Promise<void> {
  const now = Date.now();
  await store.sql`DELETE FROM oidc_logins WHERE expires_at < ${now}`;
  await store.sql`INSERT INTO oidc_logins (state_hash, idp, nonce, code_verifier, browser_hash, return_to, created_at, expires_at)
    VALUES (${hashSecret(state)}, ${l.idp}, ${l.nonce}, ${l.codeVerifier}, ${hashSecret(browser)}, ${l.returnTo}, ${now}, ${now + lifetimeMs})`;
  await store.sql`DELETE FROM oidc_logins WHERE state_hash IN (SELECT state_hash FROM oidc_logins ORDER BY created_at DESC, state_hash DESC LIMIT ${ALL_ROWS} OFFSET ${maxPending})`;
}

/** The login that `state` started in this browser, removed so it can be completed once. */
export async function takeOidcLogin(store: Store, state: string, browser: string): Promise<OidcLogin | undefined> {
  if (!state) return undefined;
  const [row]: OidcLoginRow[] = await store.sql`DELETE FROM oidc_logins WHERE state_hash = ${hashSecret(state)} RETURNING *`;
  if (!row || ms(row.expires_at) < Date.now() || !sameHex(row.browser_hash, hashSecret(browser))) return undefined;
  return { idp: row.idp, nonce: row.nonce, codeVerifier: row.code_verifier, returnTo: row.return_to };
}
