// Random ids and secrets, their hashes, and constant-time comparison. One place for all of
// it, so every credential the edge hands out (service tokens, admin tokens, zone
// credentials) is made and checked the same way.
import { createHash, timingSafeEqual } from "node:crypto";

const SECRET_BYTES = 32;

function randomBytes(n: number): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(n));
}

/** An opaque secret: 32 random bytes, base64url (43 characters, no padding). Never one that
 * starts with "-": given as `--secret VALUE` (ProxyCommand lines, CI scripts) it would be read
 * as flags, one secret in 64. */
export function randomSecret(bytes = SECRET_BYTES): string {
  for (;;) {
    const s = Buffer.from(randomBytes(bytes)).toString("base64url");
    if (!s.startsWith("-")) return s;
  }
}

/** An id with a prefix that says what it names, e.g. `wkt_` + 16 hex characters. */
export function randomId(prefix: string, bytes = 8): string {
  return prefix + Buffer.from(randomBytes(bytes)).toString("hex");
}

export const SERVICE_TOKEN_ID_PREFIX = "wkt_";
export const ADMIN_TOKEN_ID_PREFIX = "wka_";
export const ZONE_CREDENTIAL_ID_PREFIX = "wzc_";
export const TUNNEL_ID_PREFIX = "wtn_";

/**
 * SHA-256 of a secret, hex. A plain fast hash is right here: every secret we hash is 32
 * random bytes, so there is nothing to guess and a slow password hash (bcrypt, argon2)
 * would add latency to every connection without adding safety. Never use this for a
 * secret a person chose.
 */
export function hashSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}

/** Whether `secret` hashes to `hash`, compared in constant time on equal-length digests. */
export function verifySecret(secret: string, hash: string): boolean {
  const actual = createHash("sha256").update(secret, "utf8").digest();
  const expected = Buffer.from(hash, "hex");
  if (expected.length !== actual.length) return false;
  return timingSafeEqual(actual, expected);
}

/** `<id>.<secret>`: the one-string form of admin tokens and zone credentials. */
export function joinIdSecret(id: string, secret: string): string {
  return `${id}.${secret}`;
}

/** Splits `<id>.<secret>`; undefined when the string does not have that form. */
export function splitIdSecret(token: string): { id: string; secret: string } | undefined {
  const dot = token.indexOf(".");
  if (dot <= 0 || dot === token.length - 1) return undefined;
  return { id: token.slice(0, dot), secret: token.slice(dot + 1) };
}
