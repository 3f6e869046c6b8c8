// Safe principals: whoever signs in chooses their e-mail address (any address in a `domain:`
// rule works), and a provider's claim says what it likes, so what names a certificate's
// principal is checked as the certificate is made. The compiled edge on port 0, real TLS.
//
// The sign-ins here are made in the edge's own store (a session and the app token it would
// mint): the browser and provider are not what is under test, and test/signin.test.ts covers them.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { signAppToken } from "../../lib/auth/jwt.ts";
import { createSignIn, openStore, queryAudit, type Store } from "../../lib/store/index.ts";
import { SSH_CERT_PATH } from "../../lib/wire/http.ts";
import { emailPrincipalProblem, userPrincipalProblem } from "../../lib/ssh/principal.ts";
import { signUserCert, generateEd25519 } from "../../lib/ssh/format.ts";
import { wicket, startEdge, type TestEdge } from "../helpers/wicket.ts";

const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPiIz9QUC3eugNgnMuyuGM7rRB+vBHJKlzinTgBxNf15";
const APPS = { localpart: "ssh.site.test", email: "mail.site.test", claim: "claim.site.test" } as const;

let edge: TestEdge;
let store: Store;
let ca: string;

beforeAll(async () => {
  edge = await startEdge();
  ca = readFileSync(edge.caFile, "utf8");
  await edge.admin(["zone", "add", "site.test"]);
  await edge.admin(["app", "add", APPS.localpart]);
  await edge.admin(["app", "add", APPS.email, "--ssh-principal", "email"]);
  await edge.admin(["app", "add", APPS.claim, "--ssh-principal", "claim:unix_user"]);
  for (const app of Object.values(APPS)) await edge.admin(["policy", "add", app, "--name", "people", "--action", "allow", "--include", "domain:site.test"]);
  store = await openStore({ dataDir: edge.dataDir });
});

afterAll(async () => {
  await store?.close();
  await edge?.[Symbol.asyncDispose]();
});

/** Asks `app` for a certificate as someone signed in as `email` (with these provider claims). */
async function certificateFor(app: string, email: string, claims: Record<string, unknown> = {}) {
  const who = { email, idp: "test", groups: [], amr: ["pwd"], claims };
  const session = await createSignIn(store, { ...who, kind: "cli", ip: "127.0.0.1", expiresAt: Date.now() + 3_600_000 });
  const token = await signAppToken(store, { issuer: edge.url, audience: app, identity: who, sessionId: session.id, expiresAt: Date.now() + 600_000 });
  const r = await fetch(`https://127.0.0.1:${edge.port}${SSH_CERT_PATH}`, {
    method: "POST",
    tls: { ca },
    headers: { host: app, authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ public_key: PUBLIC_KEY }),
  });
  return { status: r.status, body: (await r.json()) as { certificate?: string; principal?: string; error?: string } };
}

describe("a signed-in user's principal", () => {
  test("alice@site.test gets a certificate for alice (localpart), alice@site.test (email) and her claim's user", async () => {
    expect(await certificateFor(APPS.localpart, "alice@site.test")).toMatchObject({ status: 200, body: { principal: "alice" } });
    expect(await certificateFor(APPS.localpart, "Alice.Smith@Site.test")).toMatchObject({ status: 200, body: { principal: "alice.smith" } });
    expect(await certificateFor(APPS.email, "alice@site.test")).toMatchObject({ status: 200, body: { principal: "alice@site.test" } });
    expect(await certificateFor(APPS.claim, "alice@site.test", { unix_user: "asmith" })).toMatchObject({ status: 200, body: { principal: "asmith" } });
  });

  test("root@site.test gets no certificate for root, in any mode: a 403 that says why in one sentence, and a denial in the audit", async () => {
    for (const app of [APPS.localpart, APPS.email]) {
      const r = await certificateFor(app, "root@site.test");
      expect(r.status).toBe(403);
      expect(r.body.certificate).toBeUndefined();
      expect(r.body.error).toContain(`"root" is a system account`);
      expect(r.body.error!.split(/\.\s/)).toHaveLength(1);
    }
    const denied = await queryAudit(store, { denied: true, user: "root@site.test" });
    expect(denied.map((d) => d.host).sort()).toEqual([APPS.email, APPS.localpart]);
    expect(denied[0]!.reason).toContain("system account");
  });

  test("a,b@site.test gets no certificate (for a, for b, or for both)", async () => {
    for (const app of [APPS.localpart, APPS.email]) {
      const r = await certificateFor(app, "a,b@site.test");
      expect(r.status).toBe(403);
      expect(r.body.certificate).toBeUndefined();
      expect(r.body.error).toContain("is not a");
    }
  });

  test("other system accounts and names that are no Unix user are refused too", async () => {
    for (const email of ["daemon@site.test", "www-data@site.test", "systemd-network@site.test", "_apt@site.test", "a b@site.test", "-x@site.test", `${"a".repeat(33)}@site.test`]) {
      const r = await certificateFor(APPS.localpart, email);
      expect({ email, status: r.status }).toEqual({ email, status: 403 });
    }
  });

  // Failed before: the default sudo user of a cloud image was no system account, so anyone
  // let in as ubuntu@anywhere got a certificate for the machine's administrator. (An admin may
  // still name one on purpose: a service token's --principal ubuntu is untouched.)
  test("the local part of an address does not name a cloud image's administrator", async () => {
    for (const email of ["ubuntu@site.test", "ec2-user@site.test", "admin@site.test", "opc@site.test", "azureuser@site.test", "pi@site.test"]) {
      const r = await certificateFor(APPS.localpart, email);
      expect({ email, status: r.status }).toEqual({ email, status: 403 });
    }
  });

  test("a provider's claim is held to the same rule", async () => {
    for (const unix_user of ["root", "a,b", "bin", "Root", "x\ny"]) {
      const r = await certificateFor(APPS.claim, "alice@site.test", { unix_user });
      expect({ unix_user, status: r.status, certificate: r.body.certificate }).toEqual({ unix_user, status: 403, certificate: undefined });
    }
  });
});

describe("an application that allows system principals", () => {
  const ROOTY = "rooty.site.test";

  test("root@site.test gets no root certificate by default, one once the app allows system principals, and none again after --no-allow-system-principals", async () => {
    await edge.admin(["app", "add", ROOTY]);
    await edge.admin(["policy", "add", ROOTY, "--name", "people", "--action", "allow", "--include", "domain:site.test"]);
    expect(await certificateFor(ROOTY, "root@site.test")).toMatchObject({ status: 403, body: { error: expect.stringContaining(`"root" is a system account`) } });

    expect(await edge.admin(["app", "edit", ROOTY, "--allow-system-principals"])).toBe(`${ROOTY}: sign-ins last 24h (the default); SSH principal: localpart (system accounts allowed)\n`);
    expect(await edge.admin(["app", "list"])).toMatch(/rooty\.site\.test\s+site\.test\s+24h \(default\)\s+localpart \(system accounts allowed\)\s/);
    const root = await certificateFor(ROOTY, "root@site.test");
    expect(root).toMatchObject({ status: 200, body: { principal: "root" } });
    expect(root.body.certificate).toStartWith("ssh-ed25519-cert-v01@openssh.com ");
    // only this application: the others still refuse root
    expect((await certificateFor(APPS.localpart, "root@site.test")).status).toBe(403);

    expect(await edge.admin(["app", "edit", ROOTY, "--no-allow-system-principals"])).toBe(`${ROOTY}: sign-ins last 24h (the default); SSH principal: localpart\n`);
    expect((await certificateFor(ROOTY, "root@site.test")).status).toBe(403);
  });

  test("even then, a,b and names that are no Unix user are refused", async () => {
    const APP = "rooty-email.site.test";
    await edge.admin(["app", "add", APP, "--ssh-principal", "email", "--allow-system-principals"]);
    await edge.admin(["policy", "add", APP, "--name", "people", "--action", "allow", "--include", "domain:site.test"]);
    expect(await certificateFor(APP, "root@site.test")).toMatchObject({ status: 200, body: { principal: "root@site.test" } });
    for (const email of ["a,b@site.test", "a b@site.test", "-x@site.test"]) {
      const r = await certificateFor(APP, email);
      expect({ email, status: r.status, certificate: r.body.certificate }).toEqual({ email, status: 403, certificate: undefined });
    }
  });
});

describe("a service token's principal", () => {
  test("cannot be a system account or a list", async () => {
    for (const p of ["root", "a,b", "nobody"]) {
      const r = await wicket(["edge", "token", "create", `t-${crypto.randomUUID().slice(0, 6)}`, "--principal", p, "--data-dir", edge.dataDir]);
      expect(r.code).not.toBe(0);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});

describe("the rule", () => {
  test("user names: lower case, a letter or _ first, at most 32; system accounts refused", () => {
    for (const ok of ["alice", "a", "first.last", "deploy-bot", "u1"]) expect(userPrincipalProblem(ok)).toBeUndefined();
    for (const bad of ["", "root", "a,b", "Alice", "1abc", "-x", ".x", "a b", "a@b", "a".repeat(33), "_apt", "systemd-resolve", "nobody"]) expect(userPrincipalProblem(bad)).toBeString();
  });

  test("an application that allows system accounts lifts that refusal and no other", () => {
    for (const ok of ["root", "nobody", "_apt", "systemd-resolve", "alice"]) expect(userPrincipalProblem(ok, { allowSystem: true })).toBeUndefined();
    for (const bad of ["", "a,b", "Root", "a b", "a".repeat(33)]) expect(userPrincipalProblem(bad, { allowSystem: true })).toBeString();
    expect(emailPrincipalProblem("root@site.test", { allowSystem: true })).toBeUndefined();
    expect(emailPrincipalProblem("a,b@site.test", { allowSystem: true })).toBeString();
  });

  test("e-mail principals: such a user name @ a DNS domain", () => {
    expect(emailPrincipalProblem("alice@site.test")).toBeUndefined();
    for (const bad of ["root@site.test", "a,b@site.test", "alice@", "@site.test", "alice@site", "alice@site.test,bob@site.test", "alice@si te.test"]) expect(emailPrincipalProblem(bad)).toBeString();
  });

  test("no certificate is ever signed for a principal with a comma or a blank", () => {
    const { privateKey, raw } = generateEd25519();
    const cert = (principals: string[]) => () => signUserCert({ ca: privateKey, publicKey: raw, keyId: "k", principals, validAfter: new Date(), validBefore: new Date(Date.now() + 60_000) });
    expect(cert(["alice"])).not.toThrow();
    for (const bad of [["a,b"], ["a b"], [""], []]) expect(cert(bad)).toThrow("refusing to sign");
  });
});
