// Sign-in with an OpenID Connect provider, through openid-client: issuer discovery, the
// authorization code flow with PKCE, state and nonce checked, and the ID token verified,
// signature included. What comes out is an e-mail address, groups and auth methods.
import * as client from "openid-client";

/** An OpenID Connect provider as the edge's config file names it (lib/edge/config/file.ts reads it). */
export type OidcProvider = {
  type: "oidc";
  name: string;
  displayName: string;
  issuer: string;
  clientId: string;
  clientSecret?: string;
  scopes: string[];
  /** Claim that holds the user's groups; a dotted path reaches into objects (`realm_access.roles`). */
  groupsClaim: string;
  /** Extra CA to trust for this provider, PEM. */
  caPem?: string;
  /** `trust-email: true`: its e-mail addresses count without `email_verified: true` (a provider that only knows verified ones). */
  trustEmail?: boolean;
};

export type OidcStart = { url: URL; state: string; nonce: string; codeVerifier: string };
/** `claims`: what the provider said of the user, for `claim:<name>` principals (lib/edge/decisions/ssh-cert.ts). */
export type OidcUser = { email: string; groups: string[]; amr: string[]; claims: Record<string, unknown> };

/** The token's own bookkeeping, which says nothing of the user. */
const NOT_OF_THE_USER = ["iss", "aud", "exp", "iat", "nbf", "nonce", "at_hash", "c_hash", "s_hash", "auth_time", "azp", "sid", "jti"];
/** The claims kept with a session are at most this large (JSON): the largest go first. */
const CLAIMS_MAX = 16 * 1024;

function userClaims(all: Record<string, unknown>): Record<string, unknown> {
  const kept = Object.entries(all)
    .filter(([k]) => !NOT_OF_THE_USER.includes(k))
    .map(([k, v]) => [k, v, JSON.stringify(v)?.length ?? 0] as const)
    .sort((a, b) => a[2] - b[2]); // a long groups list goes before a short unix_user does
  const out: Record<string, unknown> = {};
  let size = 2;
  for (const [k, v, n] of kept) {
    if (size + k.length + n + 4 > CLAIMS_MAX) break;
    out[k] = v;
    size += k.length + n + 4;
  }
  return out;
}

/** A sign-in that did not work, in a sentence for the person at the browser. */
export class OidcError extends Error {}

const isLoopback = (u: URL) => ["127.0.0.1", "localhost", "[::1]"].includes(u.hostname);

// Discovery happens on first use and is kept; a failure is forgotten so the next sign-in tries
// again, so that an IdP that is down when the edge starts does not stop the edge.
const configs = new Map<string, Promise<client.Configuration>>();

function configuration(p: OidcProvider): Promise<client.Configuration> {
  let c = configs.get(p.name);
  if (c) return c;
  const issuer = new URL(p.issuer);
  const ca = p.caPem;
  const options: client.DiscoveryRequestOptions = {
    ...(ca ? { [client.customFetch]: (url: string, init: RequestInit) => fetch(url, { ...init, tls: { ca } } as RequestInit) } : {}),
    // Plain http only for a provider on this machine (a development IdP); never across a network.
    ...(issuer.protocol === "http:" && isLoopback(issuer) ? { execute: [client.allowInsecureRequests] } : {}),
  };
  c = client.discovery(issuer, p.clientId, p.clientSecret ? { client_secret: p.clientSecret } : {}, p.clientSecret ? client.ClientSecretBasic(p.clientSecret) : client.None(), options).then((conf) => {
    // Check the ID token's signature against the provider's keys too, not only its claims.
    client.enableNonRepudiationChecks(conf);
    return conf;
  });
  c.catch(() => configs.delete(p.name));
  configs.set(p.name, c);
  return c;
}

/** Where to send the browser, and what to keep until it comes back. */
export async function startOidc(p: OidcProvider, redirectUri: string): Promise<OidcStart> {
  let conf: client.Configuration;
  try {
    conf = await configuration(p);
  } catch (e) {
    throw new OidcError(`the identity provider ${p.displayName} cannot be reached (${(e as Error).message}); try again later or use another way to sign in`);
  }
  const codeVerifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(conf, {
    redirect_uri: redirectUri,
    scope: p.scopes.join(" "),
    code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
    code_challenge_method: "S256",
    state,
    nonce,
  });
  return { url, state, nonce, codeVerifier };
}

/** A claim by dotted path: `groups`, or `realm_access.roles`. */
export function claimAt(claims: Record<string, unknown>, path: string): unknown {
  if (path in claims) return claims[path];
  return path.split(".").reduce<unknown>((o, k) => (o && typeof o === "object" ? (o as Record<string, unknown>)[k] : undefined), claims);
}

function stringsOf(v: unknown): string[] {
  if (typeof v === "string") return [v];
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}

/** Completes the sign-in from the URL the provider sent the browser back to. */
export async function finishOidc(p: OidcProvider, callbackUrl: URL, saved: { state: string; nonce: string; codeVerifier: string }): Promise<OidcUser> {
  const conf = await configuration(p);
  let tokens;
  try {
    tokens = await client.authorizationCodeGrant(conf, callbackUrl, { pkceCodeVerifier: saved.codeVerifier, expectedState: saved.state, expectedNonce: saved.nonce, idTokenExpected: true });
  } catch (e) {
    const err = e as { error?: string; error_description?: string; message?: string };
    throw new OidcError(`${p.displayName} did not sign you in: ${err.error_description ?? err.error ?? err.message}`);
  }
  let claims: Record<string, unknown> = { ...(tokens.claims() ?? {}) };
  // Many providers put e-mail and groups only in the userinfo response.
  if ((typeof claims.email !== "string" || claimAt(claims, p.groupsClaim) === undefined) && tokens.access_token && conf.serverMetadata().userinfo_endpoint) {
    try {
      const info = await client.fetchUserInfo(conf, tokens.access_token, String(claims.sub));
      claims = { ...info, ...claims, email: claims.email ?? info.email, email_verified: claims.email_verified ?? info.email_verified };
      if (claimAt(claims, p.groupsClaim) === undefined && claimAt(info, p.groupsClaim) !== undefined) claims[p.groupsClaim] = claimAt(info, p.groupsClaim);
    } catch {
      // what the ID token says is then all there is
    }
  }
  const email = typeof claims.email === "string" ? claims.email.trim().toLowerCase() : "";
  if (!/^[^@\s]+@[^@\s]+$/.test(email)) throw new OidcError(`${p.displayName} did not say which e-mail address you have; ask your administrator to add the "email" scope`);
  // Policies trust the address, so the provider must vouch for it, unless the edge's config says it always does.
  if (claims.email_verified !== true && !p.trustEmail) {
    throw new OidcError(`${p.displayName} does not say the e-mail address ${email} is verified; verify it there first, or ask your administrator (trust-email in the provider's config)`);
  }
  return { email, groups: stringsOf(claimAt(claims, p.groupsClaim)), amr: stringsOf(claims.amr), claims: userClaims(claims) };
}
