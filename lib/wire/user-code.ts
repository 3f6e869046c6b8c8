// The device flow's user code and the page a person confirms it on, as both ends spell them:
// the edge makes the code (lib/store/device-codes.ts) and the page (lib/edge/signin/); the
// CLI shows and opens a page URL it builds itself from these rules, never one the edge sent
// (an edge's URL could carry terminal escapes, or shell text for an opener).
import { VERIFY_PATH } from "./http.ts";

/** RFC 8628 6.1: no vowels (no words), no look-alikes; 20^8 ≈ 2.6e10 codes. */
export const USER_CODE_ALPHABET = "BCDFGHJKLMNPQRSTVWXZ";

/** A code as the edge issues and the terminal shows it: 4 + 4 letters of the alphabet. */
const USER_CODE = /^[BCDFGHJKLMNPQRSTVWXZ]{4}-[BCDFGHJKLMNPQRSTVWXZ]{4}$/;

/** Whether `code` is exactly a code as issued, safe to show and to put in a URL. */
export const isUserCode = (code: unknown): code is string => typeof code === "string" && USER_CODE.test(code);

/** Normalises what a person typed: case, spaces and dashes do not matter. */
export function normalizeUserCode(input: string): string | undefined {
  const s = String(input ?? "").toUpperCase().replace(/[\s-]/g, "");
  if (s.length !== 8 || [...s].some((c) => !USER_CODE_ALPHABET.includes(c))) return undefined;
  return `${s.slice(0, 4)}-${s.slice(4)}`;
}

/** The page where a person confirms a code: at the issuer's origin, the code in the query
 * when the link may carry it (RFC 8628 3.3.1's verification_uri_complete). */
export function verificationUrl(issuer: string, userCode?: string): string {
  const page = new URL(issuer).origin + VERIFY_PATH;
  return userCode === undefined ? page : `${page}?user_code=${encodeURIComponent(userCode)}`;
}
