// The signing keys of a workload issuer (GitHub Actions, GitLab, a Kubernetes cluster): its
// OpenID discovery document and JWKS, fetched on first use and kept. Keys are looked at again
// every few minutes and whenever a token names a key id not among them (a rotation), a few
// times a minute at most, since anyone can write any kid. An issuer that cannot be reached
// leaves the keys last fetched in use for a bounded time (`max-stale`), then none.
import { createLocalJWKSet, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";
import { isLoopbackHost } from "../net/address.ts";

/** An issuer the edge trusts for workloads, as edge.yaml's `workload-issuers:` names it. */
export type WorkloadIssuer = {
  /** Used in `workload:<name>:…` rules. */
  name: string;
  /** Exactly the tokens' `iss`: `https://token.actions.githubusercontent.com`. */
  issuer: string;
  /** The `aud` tokens must carry; default the edge's public URL. */
  audience?: string;
  /** An extra CA for the issuer's HTTPS, PEM. */
  caPem?: string;
  /** How long keys last fetched stay in use while the issuer cannot be reached (ms). */
  maxStaleMs?: number;
};

/** Keys are fetched again after this, when next needed. */
const REFRESH_MS = 5 * 60_000;
export const DEFAULT_MAX_STALE_MS = 60 * 60_000;
/** Unknown key ids make at most this many fetches a minute. */
const UNKNOWN_KID_FETCHES_PER_MINUTE = 6;
/** A discovery document or JWKS bigger than this is no issuer's. */
const MAX_DOCUMENT_BYTES = 256 * 1024;
const FETCH_TIMEOUT_MS = 10_000;

type Fetched = { jwks: JSONWebKeySet; kids: Set<string>; getKey: JWTVerifyGetKey; at: number };
type KeyState = { fetched?: Fetched; inflight?: Promise<Fetched>; unknownKidFetches: number[]; failedAt?: number };
/** After a failed fetch, the stale keys are used without asking again for this long: a down issuer must not hold every sign-in for its timeout. */
const RETRY_AFTER_FAILURE_MS = 30_000;

/** Clock and fetch, replaceable in tests of staleness. */
export type KeyDeps = { now: () => number; fetch: (url: URL, init: RequestInit) => Promise<Response> };
const defaultDeps: KeyDeps = { now: () => Date.now(), fetch: (input, init) => fetch(input, init) };

/** An issuer's URL the edge will fetch from: https, or http only on this machine (a test or development issuer). */
export function fetchableUrl(raw: string, issuer: WorkloadIssuer): URL | string {
  const u = URL.parse(raw);
  if (!u) return `${raw} is not a URL`;
  if (u.protocol === "https:") return u;
  if (u.protocol === "http:" && isLoopbackHost(u.hostname) && new URL(issuer.issuer).protocol === "http:") return u;
  return `${raw} is not https`;
}

async function getJson(url: URL, issuer: WorkloadIssuer, deps: KeyDeps): Promise<Record<string, unknown>> {
  const init = { headers: { accept: "application/json" }, redirect: "error", signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), ...(issuer.caPem ? { tls: { ca: issuer.caPem } } : {}) } as RequestInit;
  const res = await deps.fetch(url, init);
  if (!res.ok) throw new Error(`${url.href} answered ${res.status}`);
  const text = await res.text();
  if (text.length > MAX_DOCUMENT_BYTES) throw new Error(`${url.href} sent more than ${MAX_DOCUMENT_BYTES / 1024} KiB`);
  const body: unknown = JSON.parse(text);
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new Error(`${url.href} sent no JSON object`);
  return body as Record<string, unknown>;
}

async function fetchKeys(issuer: WorkloadIssuer, deps: KeyDeps): Promise<Fetched> {
  const discovery = fetchableUrl(`${issuer.issuer.replace(/\/+$/, "")}/.well-known/openid-configuration`, issuer);
  if (typeof discovery === "string") throw new Error(discovery);
  const meta = await getJson(discovery, issuer, deps);
  // the document must be the issuer's own, or its keys would sign for another
  if (meta.issuer !== issuer.issuer) throw new Error(`its discovery document names the issuer ${JSON.stringify(meta.issuer)}`);
  const jwksUri = typeof meta.jwks_uri === "string" ? fetchableUrl(meta.jwks_uri, issuer) : "its discovery document has no jwks_uri";
  if (typeof jwksUri === "string") throw new Error(jwksUri);
  const jwks = await getJson(jwksUri, issuer, deps);
  if (!Array.isArray(jwks.keys)) throw new Error(`${jwksUri.href} holds no keys`);
  // only public keys of signature algorithms: a symmetric ("oct") key in a JWKS is public knowledge
  const keys = jwks.keys.filter((k): k is JSONWebKeySet["keys"][number] => !!k && typeof k === "object" && ["RSA", "EC", "OKP"].includes((k as { kty?: unknown }).kty as string) && !("d" in k));
  const set: JSONWebKeySet = { keys };
  return { jwks: set, kids: new Set(keys.map((k) => k.kid).filter((k): k is string => typeof k === "string")), getKey: createLocalJWKSet(set), at: deps.now() };
}

const states = new Map<string, KeyState>();
const stateOf = (i: WorkloadIssuer) => {
  const key = `${i.name}\n${i.issuer}`;
  let s = states.get(key);
  if (!s) states.set(key, (s = { unknownKidFetches: [] }));
  return s;
};

function refetch(issuer: WorkloadIssuer, s: KeyState, deps: KeyDeps): Promise<Fetched> {
  s.inflight ??= fetchKeys(issuer, deps).then(
    (f) => {
      s.fetched = f;
      s.failedAt = undefined;
      return f;
    },
    (e: Error) => {
      s.failedAt = deps.now();
      throw e;
    },
  ).finally(() => (s.inflight = undefined));
  return s.inflight;
}

/** The issuer's keys for a token with key id `kid`: fresh enough, or stale within the bound. Throws with why there are none. */
export async function issuerKeys(issuer: WorkloadIssuer, kid: string | undefined, deps: KeyDeps = defaultDeps): Promise<JWTVerifyGetKey> {
  const s = stateOf(issuer);
  const now = deps.now();
  const f = s.fetched;
  const maxStale = issuer.maxStaleMs ?? DEFAULT_MAX_STALE_MS;
  let want = !f || now - f.at >= REFRESH_MS;
  if (f && !want && kid !== undefined && !f.kids.has(kid)) {
    s.unknownKidFetches = s.unknownKidFetches.filter((t) => now - t < 60_000);
    if (s.unknownKidFetches.length < UNKNOWN_KID_FETCHES_PER_MINUTE) {
      s.unknownKidFetches.push(now);
      want = true;
    }
  }
  if (f && want && now - f.at < maxStale && s.failedAt !== undefined && now - s.failedAt < RETRY_AFTER_FAILURE_MS) want = false;
  if (!want) return f!.getKey;
  try {
    return (await refetch(issuer, s, deps)).getKey;
  } catch (e) {
    if (f && now - f.at < maxStale) return f.getKey;
    throw new Error(`the keys of ${issuer.issuer} cannot be fetched: ${(e as Error).message}`);
  }
}

/** Forgets every issuer's keys (tests that start issuers of the same name). */
export const forgetIssuerKeys = () => states.clear();
