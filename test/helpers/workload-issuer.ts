// A real OpenID Connect issuer of workload ID tokens for the tests, on 127.0.0.1 and port 0:
// `/.well-known/openid-configuration` and a JWKS as GitHub Actions, GitLab and Kubernetes
// serve them, tokens signed with jose by RS256 and ES256 keys, and a rotation that swaps the
// JWKS. It is the issuer for this purpose: the edge fetches discovery and keys from it over
// HTTP like any other. Beside it, a stand-in for the GitHub Actions runner's token endpoint
// (ACTIONS_ID_TOKEN_REQUEST_URL): a bearer request token, an `audience` parameter, and
// `{ "value": <jwt> }` back. The stand-in is a fake (no runner can run here), said so here.
import { exportJWK, generateKeyPair, SignJWT, type JWK } from "jose";

type Key = { kid: string; alg: "RS256" | "ES256"; privateKey: CryptoKey; jwk: JWK };

async function newKey(alg: Key["alg"]): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `${alg.toLowerCase()}-${crypto.randomUUID().slice(0, 8)}`;
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

export type SignOptions = {
  alg?: Key["alg"];
  /** Seconds from now; negative for a token that has expired. */
  expiresIn?: number;
  notBefore?: number;
  issuer?: string;
  audience?: string | string[];
  /** Sign with a key the JWKS does not hold. */
  foreignKey?: boolean;
  jti?: string | null;
};

export interface TestIssuer extends AsyncDisposable {
  url: string;
  /** The JWKS as served now. */
  jwks(): { keys: JWK[] };
  /** A token with these claims, for `audience`. */
  sign(claims: Record<string, unknown>, o?: SignOptions): Promise<string>;
  /** New RS256 and ES256 keys; the old ones leave the JWKS. */
  rotate(): Promise<void>;
  /** Whether discovery and the JWKS answer (false: 503, an issuer that is down). */
  setUp(up: boolean): void;
  /** How many times the JWKS was fetched. */
  jwksFetches(): number;
  /** The Actions stand-in: its URL and the request token it wants; `claims` go into every token it issues. */
  actions(claims: Record<string, unknown>): { url: string; requestToken: string };
}

/** `tls`: serve https with this certificate (one from the edge's CA, lib/tls/ca.ts), for issuers behind a private CA. */
export async function startIssuer(opts: { tls?: { cert: string; key: string } } = {}): Promise<TestIssuer> {
  let keys = [await newKey("RS256"), await newKey("ES256")];
  const foreign = [await newKey("RS256"), await newKey("ES256")];
  let up = true;
  let fetches = 0;
  const requestToken = `req-${crypto.randomUUID()}`;
  let actionsClaims: Record<string, unknown> = {};
  let url = "";

  const sign = async (claims: Record<string, unknown>, o: SignOptions = {}) => {
    const alg = o.alg ?? "RS256";
    const key = (o.foreignKey ? foreign : keys).find((k) => k.alg === alg)!;
    const now = Math.floor(Date.now() / 1000);
    const jwt = new SignJWT(claims)
      .setProtectedHeader({ alg, kid: key.kid, typ: "JWT" })
      .setIssuer(o.issuer ?? url)
      .setAudience(o.audience ?? "unset")
      .setIssuedAt(now)
      .setNotBefore(now + (o.notBefore ?? 0))
      .setExpirationTime(now + (o.expiresIn ?? 300));
    if (o.jti !== null) jwt.setJti(o.jti ?? crypto.randomUUID());
    return jwt.sign(key.privateKey);
  };

  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    ...(opts.tls ? { tls: opts.tls } : {}),
    async fetch(req) {
      const u = new URL(req.url);
      if (u.pathname === "/actions-token") {
        if (req.headers.get("authorization")?.toLowerCase() !== `bearer ${requestToken}`) return new Response("bad request token", { status: 401 });
        const audience = u.searchParams.get("audience");
        if (!audience) return new Response("no audience", { status: 400 });
        return Response.json({ count: 1, value: await sign(actionsClaims, { audience }) });
      }
      if (!up) return new Response("down", { status: 503 });
      if (u.pathname === "/.well-known/openid-configuration") return Response.json({ issuer: url, jwks_uri: `${url}/jwks`, id_token_signing_alg_values_supported: ["RS256", "ES256"], response_types_supported: ["id_token"], subject_types_supported: ["public"] });
      if (u.pathname === "/jwks") {
        fetches++;
        return Response.json({ keys: keys.map((k) => k.jwk) });
      }
      return new Response("not found", { status: 404 });
    },
  });
  url = `${opts.tls ? "https" : "http"}://127.0.0.1:${server.port}`;

  return {
    url,
    jwks: () => ({ keys: keys.map((k) => k.jwk) }),
    sign,
    async rotate() {
      keys = [await newKey("RS256"), await newKey("ES256")];
    },
    setUp: (v) => void (up = v),
    jwksFetches: () => fetches,
    actions(claims) {
      actionsClaims = claims;
      return { url: `${url}/actions-token?api-version=2.0`, requestToken };
    },
    async [Symbol.asyncDispose]() {
      await server.stop(true);
    },
  };
}

/** What GitHub Actions puts in a job's ID token, for `repository` on `ref`. */
export function githubClaims(repository: string, ref: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const owner = repository.split("/")[0];
  return {
    sub: `repo:${repository}:ref:${ref}`,
    repository,
    repository_owner: owner,
    ref,
    ref_type: "branch",
    workflow_ref: `${repository}/.github/workflows/deploy.yml@${ref}`,
    event_name: "push",
    actor: "octocat",
    run_id: "1234567890",
    ...extra,
  };
}
