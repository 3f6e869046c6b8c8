// A JWT's claims read without verifying it: for whoever holds a token and needs to know what
// it says of itself (the CLI, when its cached token expires; the edge, to say how long a
// token it has just verified lasts). Nothing here decides access: lib/auth/jwt.ts verifies.
// Free of the store, so the CLI loads it.

export type UnverifiedClaims = { exp?: number; email?: string; aud?: string | string[] };

/** The payload of a compact JWT, unverified; undefined when it is not one. */
export function jwtClaims(token: string): UnverifiedClaims | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    const claims: unknown = JSON.parse(Buffer.from(part, "base64url").toString("utf8"));
    return typeof claims === "object" && claims !== null && !Array.isArray(claims) ? claims : undefined;
  } catch {
    return undefined;
  }
}
