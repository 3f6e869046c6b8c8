// App tokens: JWTs the edge signs (ES256, with a key id) for one application. The audience
// is the application hostname the token was minted for, so a token for one application is
// worth nothing at another; the lifetime is the application's session length. The public
// keys are published as a JWKS for anyone who wants to check a token themselves.
import { createLocalJWKSet, decodeProtectedHeader, errors, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JSONWebKeySet } from "jose";
import { randomId } from "./secret.ts";
import { workloadLabel, type Workload } from "../policy/workload.ts";
import { log } from "../cli/log.ts";
// Above the store (its signing keys live there), unlike secret.ts and jwt-claims.ts below it.
import { insertSigningKey, signingKeyRetired, listSigningKeys, type Identity, type Store } from "../store/index.ts";

export const APP_TOKEN_ALG = "ES256";

/** What an app token says: the person, their groups and IdP, and the org session it came from. */
export type AppTokenClaims = Identity & { sid: string; aud: string; exp: number; iat: number; iss: string; jti: string };

type KeyState = { kid: string; privateKey: CryptoKey; jwks: JSONWebKeySet; verifier: ReturnType<typeof createLocalJWKSet> };

/** A token whose key this node does not know makes it look again, at most this often (a key
 * made through another node also reaches this one when the access revision moves). */
const UNKNOWN_KEY_RELOAD_MS = 1_000;

// Per store, so that tests with several edges in one process stay apart.
const cache = new WeakMap<Store, { state: Promise<KeyState>; loadedAt: number }>();

/** A new key, which signs from now on (the newest live key does); returns its id. */
async function addSigningKey(store: Store): Promise<string> {
  const { privateKey, publicKey } = await generateKeyPair(APP_TOKEN_ALG, { extractable: true });
  const kid = randomId("k", 8);
  await insertSigningKey(store, { kid, alg: APP_TOKEN_ALG, privateJwk: await exportJWK(privateKey), publicJwk: { ...(await exportJWK(publicKey)), kid, alg: APP_TOKEN_ALG, use: "sig" } });
  return kid;
}

async function load(store: Store): Promise<KeyState> {
  let keys = await listSigningKeys(store);
  if (keys.length === 0) {
    await addSigningKey(store);
    // Another node may have made one at the same moment: both are kept and both verify.
    keys = await listSigningKeys(store);
  }
  const current = keys[0]!;
  const jwks: JSONWebKeySet = { keys: keys.map((k) => k.publicJwk) };
  return { kid: current.kid, privateKey: (await importJWK(current.privateJwk, current.alg)) as CryptoKey, jwks, verifier: createLocalJWKSet(jwks) };
}

/** The keys as loaded at most `maxAgeMs` ago (by default, as loaded until reloadSigningKeys). A
 * store that cannot answer a reload leaves the keys loaded before in use, rather than refusing
 * every token. */
function keys(store: Store, maxAgeMs = Infinity): Promise<KeyState> {
  const c = cache.get(store);
  if (c && Date.now() - c.loadedAt < maxAgeMs) return c.state;
  const previous = c?.state;
  const state = load(store).catch((e: Error) => {
    if (!previous) {
      cache.delete(store);
      throw e;
    }
    log.warn(`cannot reload the app-token signing keys, going on with those loaded before: ${e.message}`);
    return previous;
  });
  cache.set(store, { state, loadedAt: Date.now() });
  return state;
}

/** Loads the keys again, so that tokens are signed and checked by the store as it is now. */
export const reloadSigningKeys = (store: Store) => keys(store, 0);

/**
 * Makes a new signing key, which this node signs with at once and every other node once it
 * sees the access revision move; tokens signed by the older keys stay valid until they expire,
 * unless the caller retires those keys (retireSigningKeysExcept). Returns the new key's id.
 */
export async function rotateSigningKey(store: Store): Promise<string> {
  const kid = await addSigningKey(store);
  await reloadSigningKeys(store);
  return kid;
}

/** Whether the token names a key of ours that was retired. */
async function retiredKey(store: Store, token: string): Promise<boolean> {
  let kid: unknown;
  try {
    kid = decodeProtectedHeader(token).kid;
  } catch {
    return false;
  }
  return typeof kid === "string" && (await signingKeyRetired(store, kid));
}

export async function publicJwks(store: Store): Promise<JSONWebKeySet> {
  return (await keys(store)).jwks;
}

export async function signAppToken(store: Store, t: { issuer: string; audience: string; identity: Identity; sessionId: string; expiresAt: number }): Promise<string> {
  const k = await keys(store);
  const { email, idp, groups, amr } = t.identity;
  return new SignJWT({ email, idp, groups, amr, sid: t.sessionId } satisfies Partial<AppTokenClaims>)
    .setProtectedHeader({ alg: APP_TOKEN_ALG, kid: k.kid, typ: "JWT" })
    .setIssuer(t.issuer)
    .setSubject(email)
    .setAudience(t.audience)
    .setIssuedAt()
    .setJti(randomId("", 12))
    .setExpirationTime(Math.floor(t.expiresAt / 1000))
    .sign(k.privateKey);
}

/**
 * An app token for a workload (lib/auth/workload.ts verified its ID token): no person, but the
 * workload's issuer, subject and claims in `wl`, which the policies judge again on every
 * connection. `sid` is the exchange's grant id, which the audit names.
 */
export async function signWorkloadToken(store: Store, t: { issuer: string; audience: string; workload: Workload; grant: string; expiresAt: number }): Promise<string> {
  const k = await keys(store);
  const { issuer, subject, claims } = t.workload;
  return new SignJWT({ wl: { iss: issuer, sub: subject, claims }, sid: t.grant })
    .setProtectedHeader({ alg: APP_TOKEN_ALG, kid: k.kid, typ: "JWT" })
    .setIssuer(t.issuer)
    .setSubject(workloadLabel(t.workload))
    .setAudience(t.audience)
    .setIssuedAt()
    .setJti(randomId("", 12))
    .setExpirationTime(Math.floor(t.expiresAt / 1000))
    .sign(k.privateKey);
}

/** What a workload's app token says, once verified. */
export type WorkloadTokenClaims = { workload: Workload; sid: string; iat: number; exp: number };

function workloadOf(wl: unknown): Workload | undefined {
  if (!wl || typeof wl !== "object") return undefined;
  const { iss, sub, claims } = wl as Record<string, unknown>;
  if (typeof iss !== "string" || typeof sub !== "string" || !claims || typeof claims !== "object" || Array.isArray(claims)) return undefined;
  return { issuer: iss, subject: sub, claims: claims as Record<string, unknown> };
}

/** The token's claims and the id of the key that signed it when it is ours, unexpired and for
 * `audience`; else why not, in a few words. A workload's token comes back as `workload`. */
export async function verifyAppToken(store: Store, token: string, audience: string): Promise<{ claims: AppTokenClaims; kid?: string } | { workload: WorkloadTokenClaims; kid?: string } | { reason: string }> {
  const verify = async (maxAgeMs?: number) => jwtVerify(token, (await keys(store, maxAgeMs)).verifier, { algorithms: [APP_TOKEN_ALG], audience, requiredClaims: ["exp", "sub", "sid"] });
  try {
    let result;
    try {
      result = await verify();
    } catch (e) {
      // A key made by another node since this one loaded its keys: look again, at most once a second.
      if (!(e instanceof errors.JWKSNoMatchingKey)) throw e;
      result = await verify(UNKNOWN_KEY_RELOAD_MS);
    }
    const p = result.payload as Record<string, unknown>;
    if (p.wl !== undefined) {
      const workload = workloadOf(p.wl);
      if (!workload) return { reason: "it names no workload" };
      return { workload: { workload, sid: String(p.sid), iat: Number(p.iat), exp: Number(p.exp) }, kid: result.protectedHeader.kid };
    }
    const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
    if (typeof p.email !== "string" || typeof p.idp !== "string") return { reason: "it names no user" };
    return {
      claims: { email: p.email, idp: p.idp, groups: strings(p.groups), amr: strings(p.amr), sid: String(p.sid), aud: audience, exp: Number(p.exp), iat: Number(p.iat), iss: String(p.iss), jti: String(p.jti) },
      kid: result.protectedHeader.kid,
    };
  } catch (e) {
    if (e instanceof errors.JWTExpired) return { reason: "it has expired" };
    if (e instanceof errors.JWTClaimValidationFailed && e.claim === "aud") return { reason: `it is for another application` };
    if (e instanceof errors.JWSSignatureVerificationFailed) return { reason: "its signature does not verify" };
    if (e instanceof errors.JWKSNoMatchingKey) return { reason: (await retiredKey(store, token)) ? "the key that signed it was retired" : "it was not signed by this edge" };
    return { reason: "it is not a valid app token" };
  }
}

/** The app-token keys, for other tokens the edge signs with them (lib/auth/resume-ticket.ts):
 * the current signer, and a verifier that looks again (at most once a second) for a key made
 * through another node. */
export async function appKeys(store: Store) {
  const k = await keys(store);
  return {
    kid: k.kid,
    privateKey: k.privateKey,
    verify: async <T>(check: (verifier: KeyState["verifier"]) => Promise<T>): Promise<T> => {
      try {
        return await check(k.verifier);
      } catch (e) {
        if (!(e instanceof errors.JWKSNoMatchingKey)) throw e;
        return check((await keys(store, UNKNOWN_KEY_RELOAD_MS)).verifier);
      }
    },
  };
}
