// A workload's ID token (GitHub Actions, GitLab, Kubernetes, any OpenID issuer the edge
// trusts), checked: from an issuer of edge.yaml's `workload-issuers:`, signed by one of that
// issuer's keys with an asymmetric algorithm, for the edge's audience, within its lifetime
// (a minute of clock skew at most). What comes out is a Workload (lib/policy/workload.ts) and
// the key the token is remembered by, so that it is accepted once.
import { createHash } from "node:crypto";
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify } from "jose";
import type { Workload } from "../policy/workload.ts";
import { issuerKeys, type KeyDeps, type WorkloadIssuer } from "./workload-keys.ts";

export type { WorkloadIssuer };

/** Public-key algorithms only: `none` and HS256 (whose "secret" would be the public JWKS) never verify. */
export const WORKLOAD_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];
/** Expiry and not-before are checked with this much leeway for clocks that differ, no more. */
export const CLOCK_SKEW_S = 60;
/** A token that lasts longer than this would have to be remembered that long to be accepted once; it is refused. */
export const MAX_ID_TOKEN_LIFE_S = 24 * 3600;
/** The claims kept (and put in the app token) are at most this large, as JSON. */
const CLAIMS_MAX = 8 * 1024;
/** A token longer than this is no ID token. */
const TOKEN_MAX = 16 * 1024;

/** The token's own bookkeeping, which says nothing of the job. */
const BOOKKEEPING = new Set(["iss", "aud", "exp", "iat", "nbf", "jti", "nonce", "azp"]);

export type VerifiedWorkload = {
  workload: Workload;
  issuer: WorkloadIssuer;
  /** Epoch seconds. */
  exp: number;
  /** What the token is remembered by until it expires: a hash of its issuer and jti, or of the whole token. */
  replayKey: string;
};

function jobClaims(payload: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  let size = 2;
  for (const [k, v] of Object.entries(payload)) {
    if (BOOKKEEPING.has(k)) continue;
    const n = k.length + (JSON.stringify(v)?.length ?? 0) + 4;
    if (size + n > CLAIMS_MAX) continue;
    out[k] = v;
    size += n;
  }
  return out;
}

const sha256 = (s: string) => createHash("sha256").update(s).digest("base64url");

function why(e: unknown, issuer: WorkloadIssuer, audience: string): string {
  if (e instanceof errors.JWTExpired) return "it has expired";
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === "aud") return `it is for another audience, not ${audience}`;
    if (e.claim === "nbf") return "it is not valid yet (nbf is in the future)";
    if (e.claim === "iat") return "it was issued in the future";
    return `its "${e.claim}" claim is missing or wrong`;
  }
  if (e instanceof errors.JOSEAlgNotAllowed) return `it is not signed with a public-key algorithm this edge takes (${WORKLOAD_ALGORITHMS.join(", ")})`;
  if (e instanceof errors.JWSSignatureVerificationFailed) return "its signature does not verify";
  if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys) return `it was not signed by a key of ${issuer.issuer}`;
  if (e instanceof errors.JOSEError) return "it is not a signed JWT";
  return (e as Error).message;
}

/** The workload a token proves, or why it proves none, in a few words a client may be told. */
export async function verifyWorkloadToken(issuers: readonly WorkloadIssuer[], token: string, defaultAudience: string, deps?: KeyDeps): Promise<VerifiedWorkload | { reason: string }> {
  if (token.length > TOKEN_MAX) return { reason: "it is too long to be an ID token" };
  let iss: unknown;
  let kid: unknown;
  try {
    iss = decodeJwt(token).iss;
    kid = decodeProtectedHeader(token).kid;
  } catch {
    return { reason: "it is not a JWT" };
  }
  const issuer = issuers.find((i) => i.issuer === iss);
  if (!issuer) return { reason: `its issuer ${JSON.stringify(String(iss ?? "")).slice(0, 200)} is not one this edge trusts for workloads` };
  const audience = issuer.audience ?? defaultAudience;
  let getKey;
  try {
    getKey = await issuerKeys(issuer, typeof kid === "string" ? kid : undefined, deps);
  } catch (e) {
    return { reason: (e as Error).message };
  }
  let payload: Record<string, unknown>;
  try {
    const now = deps ? new Date(deps.now()) : undefined;
    ({ payload } = await jwtVerify(token, getKey, { issuer: issuer.issuer, audience, algorithms: WORKLOAD_ALGORITHMS, clockTolerance: CLOCK_SKEW_S, requiredClaims: ["exp", "sub"], ...(now ? { currentDate: now } : {}) }));
  } catch (e) {
    return { reason: why(e, issuer, audience) };
  }
  const exp = Number(payload.exp);
  const nowS = (deps?.now() ?? Date.now()) / 1000;
  if (exp - nowS > MAX_ID_TOKEN_LIFE_S) return { reason: `it is valid for more than ${MAX_ID_TOKEN_LIFE_S / 3600} hours; ask the issuer for a shorter-lived one` };
  if (typeof payload.sub !== "string" || !payload.sub) return { reason: "it names no subject (sub)" };
  const jti = typeof payload.jti === "string" && payload.jti ? payload.jti : undefined;
  return {
    workload: { issuer: issuer.name, subject: payload.sub, claims: jobClaims(payload) },
    issuer,
    exp,
    replayKey: sha256(jti ? `${issuer.issuer}\n${jti}` : token),
  };
}
