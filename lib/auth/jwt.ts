// App tokens: JWTs the edge signs (ES256, with a key id) for one application. The audience
// is the application hostname the token was minted for, so a token for one application is
// worth nothing at another; the lifetime is the application's session length. The public
// keys are published as a JWKS for anyone who wants to check a token themselves.
import { createLocalJWKSet, errors, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT, type JSONWebKeySet, type JWTPayload } from "jose";
import { randomId } from "./secret.ts";
import { insertSigningKey, listSigningKeys, type Identity, type Store } from "../store/index.ts";

export const APP_TOKEN_ALG = "ES256";

/** What an app token says: the person, their groups and IdP, and the org session it came from. */
export type AppTokenClaims = Identity & { sid: string; aud: string; exp: number; iat: number; iss: string; jti: string };

type KeyState = { kid: string; privateKey: CryptoKey; jwks: JSONWebKeySet; verifier: ReturnType<typeof createLocalJWKSet>; loadedAt: number };

// Per store, so that tests with several edges in one process stay apart.
const cache = new WeakMap<Store, Promise<KeyState>>();

async function load(store: Store): Promise<KeyState> {
  let keys = await listSigningKeys(store);
  if (keys.length === 0) {
    const { privateKey, publicKey } = await generateKeyPair(APP_TOKEN_ALG, { extractable: true });
    const kid = randomId("k", 8);
    await insertSigningKey(store, { kid, alg: APP_TOKEN_ALG, privateJwk: await exportJWK(privateKey), publicJwk: { ...(await exportJWK(publicKey)), kid, alg: APP_TOKEN_ALG, use: "sig" } });
    // Another node may have made one at the same moment: both are kept and both verify.
    keys = await listSigningKeys(store);
  }
  const current = keys[0]!;
  const jwks = { keys: keys.map((k) => k.publicJwk as any) };
  return { kid: current.kid, privateKey: (await importJWK(current.privateJwk as any, current.alg)) as CryptoKey, jwks, verifier: createLocalJWKSet(jwks), loadedAt: Date.now() };
}

function keys(store: Store, reload = false): Promise<KeyState> {
  let p = cache.get(store);
  if (!p || reload) {
    p = load(store);
    p.catch(() => cache.delete(store));
    cache.set(store, p);
  }
  return p;
}

export async function publicJwks(store: Store): Promise<JSONWebKeySet> {
  return (await keys(store)).jwks;
}

export async function signAppToken(store: Store, t: { issuer: string; audience: string; identity: Identity; sessionId: string; expiresAt: number }): Promise<string> {
  const k = await keys(store);
  const { email, idp, groups, amr } = t.identity;
  return new SignJWT({ email, idp, groups, amr, sid: t.sessionId } satisfies Partial<AppTokenClaims> as unknown as JWTPayload)
    .setProtectedHeader({ alg: APP_TOKEN_ALG, kid: k.kid, typ: "JWT" })
    .setIssuer(t.issuer)
    .setSubject(email)
    .setAudience(t.audience)
    .setIssuedAt()
    .setJti(randomId("", 12))
    .setExpirationTime(Math.floor(t.expiresAt / 1000))
    .sign(k.privateKey);
}

/** The token's claims when it is ours, unexpired and for `audience`; else why not, in a few words. */
export async function verifyAppToken(store: Store, token: string, audience: string): Promise<{ claims: AppTokenClaims } | { reason: string }> {
  const verify = async (reload: boolean) => jwtVerify(token, (await keys(store, reload)).verifier, { algorithms: [APP_TOKEN_ALG], audience, requiredClaims: ["exp", "sub", "sid"] });
  try {
    let result;
    try {
      result = await verify(false);
    } catch (e) {
      // A key made by another node since this one loaded its keys: look again, at most once a minute.
      if (!(e instanceof errors.JWKSNoMatchingKey) || Date.now() - (await keys(store)).loadedAt < 60_000) throw e;
      result = await verify(true);
    }
    const p = result.payload as Record<string, unknown>;
    const strings = (v: unknown) => (Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : []);
    if (typeof p.email !== "string" || typeof p.idp !== "string") return { reason: "it names no user" };
    return { claims: { email: p.email, idp: p.idp, groups: strings(p.groups), amr: strings(p.amr), sid: String(p.sid), aud: audience, exp: Number(p.exp), iat: Number(p.iat), iss: String(p.iss), jti: String(p.jti) } };
  } catch (e) {
    if (e instanceof errors.JWTExpired) return { reason: "it has expired" };
    if (e instanceof errors.JWTClaimValidationFailed && e.claim === "aud") return { reason: `it is for another application` };
    if (e instanceof errors.JWSSignatureVerificationFailed) return { reason: "its signature does not verify" };
    if (e instanceof errors.JWKSNoMatchingKey) return { reason: "it was not signed by this edge" };
    return { reason: "it is not a valid app token" };
  }
}
