// Attacks on the ID token check (lib/auth/workload.ts) with a real issuer on loopback
// (test/helpers/workload-issuer.ts: discovery, JWKS, RS256 and ES256 keys, rotation): tokens
// from another issuer or for another audience, expired or not yet valid, signed by a key not
// in the JWKS, `alg: none`, HS256 keyed with the public JWKS, and keys that rotate or cannot
// be fetched. Each is refused with a reason; each check is what refuses it.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPublicKey } from "node:crypto";
import { SignJWT } from "jose";
import { verifyWorkloadToken, type WorkloadIssuer } from "../../lib/auth/workload.ts";
import { forgetIssuerKeys, type KeyDeps } from "../../lib/auth/workload-keys.ts";
import { issueCert, newCA } from "../../lib/tls/ca.ts";
import { githubClaims, startIssuer, type TestIssuer } from "../helpers/workload-issuer.ts";

const EDGE = "https://edge.site.test";
let issuer: TestIssuer;
let other: TestIssuer;
let trusted: WorkloadIssuer[];

beforeAll(async () => {
  forgetIssuerKeys();
  issuer = await startIssuer();
  other = await startIssuer();
  trusted = [{ name: "github", issuer: issuer.url }];
});
afterAll(async () => {
  await issuer?.[Symbol.asyncDispose]();
  await other?.[Symbol.asyncDispose]();
});

const CLAIMS = githubClaims("acme/deploy", "refs/heads/main");
const check = (token: string, issuers = trusted, deps?: KeyDeps) => verifyWorkloadToken(issuers, token, EDGE, deps);
const reason = async (token: string, issuers = trusted) => {
  const v = await check(token, issuers);
  return "reason" in v ? v.reason : `accepted (${v.workload.subject})`;
};
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");

describe("a good token", () => {
  test.each(["RS256", "ES256"] as const)("signed with %s, for the edge's public URL, gives the job's claims without the bookkeeping", async (alg) => {
    const v = await check(await issuer.sign(CLAIMS, { alg, audience: EDGE }));
    if ("reason" in v) throw new Error(v.reason);
    expect(v.workload).toEqual({ issuer: "github", subject: "repo:acme/deploy:ref:refs/heads/main", claims: CLAIMS });
    expect(v.replayKey).toMatch(/^[\w-]{43}$/);
  });

  test("an issuer's own audience, when edge.yaml sets one, and not the edge's then", async () => {
    const custom = [{ ...trusted[0]!, audience: "wicket-ci" }];
    expect(await reason(await issuer.sign(CLAIMS, { audience: "wicket-ci" }), custom)).toStartWith("accepted");
    expect(await reason(await issuer.sign(CLAIMS, { audience: EDGE }), custom)).toBe("it is for another audience, not wicket-ci");
  });

  test("a minute of clock skew is allowed on expiry, no more", async () => {
    expect(await reason(await issuer.sign(CLAIMS, { audience: EDGE, expiresIn: -30 }))).toStartWith("accepted");
    expect(await reason(await issuer.sign(CLAIMS, { audience: EDGE, expiresIn: -90 }))).toBe("it has expired");
  });

  test("without a jti, the whole token is what is remembered", async () => {
    const t = await issuer.sign(CLAIMS, { audience: EDGE, jti: null });
    const [a, b] = [await check(t), await check(await issuer.sign(CLAIMS, { audience: EDGE, jti: null, expiresIn: 301 }))];
    if ("reason" in a || "reason" in b) throw new Error("refused");
    expect(a.replayKey).not.toBe(b.replayKey);
  });
});

describe("refused", () => {
  test("a token from an issuer the edge does not trust", async () => {
    expect(await reason(await other.sign(CLAIMS, { audience: EDGE }))).toContain("is not one this edge trusts for workloads");
  });

  test("a token that claims the trusted issuer but was signed by another's key", async () => {
    expect(await reason(await other.sign(CLAIMS, { audience: EDGE, issuer: issuer.url }))).toBe(`it was not signed by a key of ${issuer.url}`);
  });

  test("a token for another audience (another edge, or the repository owner's default)", async () => {
    expect(await reason(await issuer.sign(CLAIMS, { audience: "https://github.com/acme" }))).toBe(`it is for another audience, not ${EDGE}`);
  });

  test("an expired token, and one not valid yet", async () => {
    expect(await reason(await issuer.sign(CLAIMS, { audience: EDGE, expiresIn: -600 }))).toBe("it has expired");
    expect(await reason(await issuer.sign(CLAIMS, { audience: EDGE, notBefore: 600, expiresIn: 900 }))).toBe("it is not valid yet (nbf is in the future)");
  });

  test("a token valid for days, which could not be remembered until it expires", async () => {
    expect(await reason(await issuer.sign(CLAIMS, { audience: EDGE, expiresIn: 3 * 86400 }))).toContain("valid for more than 24 hours");
  });

  test("a token signed by a key that is not in the issuer's JWKS", async () => {
    for (const alg of ["RS256", "ES256"] as const) expect(await reason(await issuer.sign(CLAIMS, { alg, audience: EDGE, foreignKey: true }))).toBe(`it was not signed by a key of ${issuer.url}`);
  });

  test("alg: none", async () => {
    const now = Math.floor(Date.now() / 1000);
    const none = `${b64({ alg: "none", typ: "JWT" })}.${b64({ ...CLAIMS, iss: issuer.url, aud: EDGE, iat: now, exp: now + 300 })}.`;
    expect(await reason(none)).toMatch(/public-key algorithm|not a signed JWT/);
  });

  test("HS256 with the issuer's public key or JWKS as the secret", async () => {
    const rsa = issuer.jwks().keys.find((k) => k.kty === "RSA")!;
    const pem = createPublicKey({ key: rsa, format: "jwk" }).export({ type: "spki", format: "pem" }) as string;
    for (const secret of [pem, JSON.stringify(issuer.jwks()), JSON.stringify(rsa)]) {
      const t = await new SignJWT(CLAIMS).setProtectedHeader({ alg: "HS256", kid: rsa.kid }).setIssuer(issuer.url).setAudience(EDGE).setIssuedAt().setExpirationTime("5m").sign(new TextEncoder().encode(secret));
      expect(await reason(t)).toContain("public-key algorithm");
    }
  });

  test("a signature altered after signing, and claims altered under a good signature", async () => {
    const [h, p, s] = (await issuer.sign(CLAIMS, { audience: EDGE })).split(".");
    expect(await reason(`${h}.${p}.${s!.slice(0, -4)}AAAA`)).toBe("its signature does not verify");
    const forged = b64({ ...JSON.parse(Buffer.from(p!, "base64url").toString()), repository: "acme/prod" });
    expect(await reason(`${h}.${forged}.${s}`)).toBe("its signature does not verify");
  });

  test("what is no JWT at all", async () => {
    for (const t of ["", "x", "a.b.c", "x".repeat(20_000)]) expect(await reason(t)).toMatch(/not a JWT|too long/);
  });
});

describe("the issuer's keys", () => {
  test("rotate without a restart: a token from a new key is taken once the JWKS holds it, one from a key taken out is not", async () => {
    const old = await issuer.sign(CLAIMS, { audience: EDGE, alg: "ES256" });
    expect(await reason(old)).toStartWith("accepted");
    await issuer.rotate();
    const before = issuer.jwksFetches();
    expect(await reason(await issuer.sign(CLAIMS, { audience: EDGE, alg: "ES256" }))).toStartWith("accepted");
    expect(issuer.jwksFetches()).toBe(before + 1);
    expect(await reason(old)).toBe(`it was not signed by a key of ${issuer.url}`);
  });

  test("unknown key ids fetch the JWKS a few times a minute at most, whoever sends them", async () => {
    const before = issuer.jwksFetches();
    for (let i = 0; i < 20; i++) await check(await issuer.sign(CLAIMS, { audience: EDGE, foreignKey: true }));
    expect(issuer.jwksFetches() - before).toBeLessThanOrEqual(6);
  });

  test("an issuer that cannot be reached leaves the keys last fetched in use for max-stale, then none", async () => {
    const clock = { t: Date.now() };
    const deps: KeyDeps = { now: () => clock.t, fetch: (url, init) => fetch(url, init) };
    const stale = [{ name: "stale", issuer: issuer.url, maxStaleMs: 60 * 60_000 }];
    const t = await issuer.sign(CLAIMS, { audience: EDGE, expiresIn: 3 * 3600 });
    expect("workload" in (await check(t, stale, deps))).toBe(true);
    issuer.setUp(false);
    try {
      clock.t += 10 * 60_000; // past the refresh: a fetch is tried, fails, and the keys kept are used
      expect("workload" in (await check(t, stale, deps))).toBe(true);
      clock.t += 55 * 60_000; // past max-stale
      const v = await check(t, stale, deps);
      expect("reason" in v && v.reason).toContain(`the keys of ${issuer.url} cannot be fetched`);
    } finally {
      issuer.setUp(true);
    }
  });

  test("an https issuer behind a private CA is trusted with its ca-file, and not without", async () => {
    const ca = await newCA();
    await using private_ = await startIssuer({ tls: await issueCert(ca, ["127.0.0.1"]) });
    const token = await private_.sign(CLAIMS, { audience: EDGE });
    const without = await check(token, [{ name: "private", issuer: private_.url }]);
    expect("reason" in without && without.reason).toContain(`the keys of ${private_.url} cannot be fetched`);
    expect(await reason(token, [{ name: "private", issuer: private_.url, caPem: ca.certPem }])).toStartWith("accepted");
  });

  test("a discovery document that names another issuer is not believed", async () => {
    const liar = [{ name: "liar", issuer: `${issuer.url}/` }];
    const v = await check(await issuer.sign(CLAIMS, { audience: EDGE, issuer: `${issuer.url}/` }), liar);
    expect("reason" in v && v.reason).toContain("its discovery document names the issuer");
  });
});
