// The edge as SSH CA: a caller allowed to reach an application gets a certificate for an
// ephemeral key, valid for minutes, naming the Unix user it may log in as, signed by that
// application's own CA so that no other application's server accepts it.
import { log } from "../../cli/log.ts";
import { parseEd25519PublicLine, signUserCert } from "../../ssh/format.ts";
import { emailPrincipalProblem, IMAGE_ADMINS, userPrincipalProblem } from "../../ssh/principal.ts";
import { randomId } from "../../auth/secret.ts";
import { claimAt } from "../../auth/oidc.ts";
import { formatRule, workloadSpec } from "../../policy/evaluate.ts";
import { appPrincipalMode, appSshCA, findApp, getSignIn, tokenPrincipal, type Store } from "../../store/index.ts";
import { Close } from "../../wire/close.ts";
import { SSH_CA_PATH } from "../../wire/http.ts";
import { refuseAllowed, type ClientAuth } from "./authorize.ts";
import { BODY_LIMITS, BodyRefused, readJson, senderVerified } from "../http/body.ts";

export const CERT_VALIDITY_MS = 5 * 60_000;
/** Certificates start a minute in the past, for clocks that run slow. */
const CLOCK_SKEW_MS = 60_000;

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", "cache-control": "no-store" } });

const STATUS: Record<number, number> = { [Close.unauthenticated]: 401, [Close.denied]: 403, [Close.unknownHost]: 404, [Close.unavailable]: 503 };

/**
 * The principal for an allowed subject, or a sentence saying why there is none. Whatever
 * names it (an admin, the e-mail someone signed in with, a provider's claim), it is checked
 * here, as the certificate is made: a Unix user name that is no system account (unless the
 * application allows them), or in `email` mode such a name @ a DNS domain (lib/ssh/principal.ts).
 */
export async function principalFor(store: Store, auth: ClientAuth): Promise<string | { error: string }> {
  const s = auth.subject!;
  const app = await findApp(store, auth.host);
  if (!app) return { error: `${auth.host} is no longer an application of this edge` }; // removed since the request was authorized
  const opts = { allowSystem: app.allowSystemPrincipals };
  const checked = (p: string, problem: string | undefined) => (problem ? { error: `no SSH certificate for ${auth.identity} on ${auth.host}: ${problem}` } : p);
  if (s.serviceToken) {
    const p = await tokenPrincipal(store, s.serviceToken.id);
    return p ? checked(p, userPrincipalProblem(p, opts)) : { error: `the service token "${s.serviceToken.name}" has no SSH principal; create it with --principal <unix-user>` };
  }
  if (s.workload) return workloadPrincipal(auth, opts);
  if (!s.email) return { error: "the signed-in identity has no e-mail address to name a principal" };
  const mode = await appPrincipalMode(store, app.hostname);
  // e-mail addresses are compared without case, Unix user names are lower case
  const email = s.email.toLowerCase();
  if (mode === "email") return checked(email, emailPrincipalProblem(email, opts));
  if (mode.startsWith("claim:")) {
    // what the identity provider said at sign-in, kept with the session the token came from
    const name = mode.slice("claim:".length);
    const session = auth.signIn ? await getSignIn(store, auth.signIn) : undefined;
    const v = claimAt(session?.claims ?? {}, name);
    if (typeof v !== "string" || !v) {
      return { error: `the sign-in of ${s.email} (with ${s.idp ?? "a provider"}) carries no "${name}" claim, which names the Unix user for ${auth.host}; sign in again if the provider gives it now, or ask the administrator` };
    }
    const problem = userPrincipalProblem(v, opts);
    return checked(v, problem && `the "${name}" claim of ${s.email} is refused: ${problem}`);
  }
  const local = email.slice(0, email.lastIndexOf("@"));
  if (IMAGE_ADMINS.has(local) && !opts.allowSystem) return checked(local, `"${local}" is the administrator of cloud images, and the part of an e-mail address before the @ does not name it (an admin can, with a service token's --principal or --allow-system-principals)`);
  return checked(local, userPrincipalProblem(local, opts));
}

/**
 * A workload's principal: only what the rule that let it in binds (`;principal=deploy`, or
 * `;principal=claim:<name>` where the admin chose to trust a claim). The application's e-mail
 * and claim settings are for people; a job's claims (a branch name, an actor) are not asked.
 */
function workloadPrincipal(auth: ClientAuth, opts: { allowSystem: boolean }): string | { error: string } {
  const w = auth.subject!.workload!;
  const rule = auth.decision?.matched;
  const p = rule?.kind === "workload" ? workloadSpec(rule).principal : undefined;
  const fail = (why: string) => ({ error: `no SSH certificate for ${auth.identity} on ${auth.host}: ${why}` });
  if (!p) return fail(`the rule that lets it in (${rule ? formatRule(rule) : "none"}) names no principal; add ";principal=<unix-user>" to the workload rule`);
  if ("user" in p) return userPrincipalProblem(p.user, opts) ? fail(userPrincipalProblem(p.user, opts)!) : p.user;
  const v = Object.hasOwn(w.claims, p.claim) ? w.claims[p.claim] : undefined;
  if (typeof v !== "string" || !v) return fail(`its ID token has no "${p.claim}" claim, which the rule names as the Unix user`);
  const problem = userPrincipalProblem(v, opts);
  return problem ? fail(`the "${p.claim}" claim is refused: ${problem}`) : v;
}

/**
 * A certificate for `principal`'s key, valid for CERT_VALIDITY_MS, signed by the CA of the
 * application serving `host` with the extensions that application allows: the one way the
 * edge makes certificates, for `access ssh` and for the browser terminal alike. Undefined once
 * no application serves `host`.
 */
export async function issueUserCert(store: Store, host: string, req: { publicKey: Uint8Array; keyId: string; principal: string }): Promise<{ certificate: string; validBefore: Date } | undefined> {
  const app = await findApp(store, host);
  const ca = app && (await appSshCA(store, app.hostname));
  if (!app || !ca) return undefined;
  const now = Date.now();
  const validBefore = new Date(now + CERT_VALIDITY_MS);
  const certificate = signUserCert({ ca: ca.key, publicKey: req.publicKey, keyId: req.keyId, principals: [req.principal], validAfter: new Date(now - CLOCK_SKEW_MS), validBefore, extras: app.sshExtensions });
  return { certificate, validBefore };
}

export async function handleSshCert(req: Request, store: Store, auth: ClientAuth): Promise<Response> {
  if (auth.reject) return json(STATUS[auth.reject.code] ?? 403, { error: auth.reject.reason });
  let body: { public_key?: unknown };
  senderVerified(req, `identity ${auth.identity}`);
  try {
    body = ((await readJson(req, BODY_LIMITS.sshCert)) ?? {}) as typeof body;
  } catch (e) {
    if (e instanceof BodyRefused) return json(e.status, { error: e.message });
    return json(400, { error: "the request body must be JSON: {\"public_key\": \"ssh-ed25519 AAAA…\"}" });
  }
  const key = typeof body.public_key === "string" ? parseEd25519PublicLine(body.public_key) : undefined;
  if (!key) return json(400, { error: "public_key is not a valid ssh-ed25519 public key" });
  const principal = await principalFor(store, auth);
  if (typeof principal !== "string") {
    await refuseAllowed(store, auth, principal.error);
    return json(403, principal);
  }
  const grant = randomId("grant_");
  // sshd logs the key id on login, so it names who and which grant.
  const keyId = `${auth.identity} ${grant}`;
  const issued = await issueUserCert(store, auth.host, { publicKey: key, keyId, principal });
  if (!issued) return json(404, { error: `${auth.host} is no longer an application of this edge` }); // removed since the request was authorized
  const { certificate, validBefore } = issued;
  log.info(`ssh certificate for ${auth.identity} as ${principal} on ${auth.host} from ${auth.ip}, valid until ${validBefore.toISOString()} (${grant})`);
  return json(200, { certificate, principal, valid_before: validBefore.toISOString(), key_id: keyId });
}

const text = (status: number, body: string) => new Response(body + "\n", { status, headers: { "content-type": "text/plain; charset=utf-8" } });

/** `https://<application>/ssh-ca.pub`: the application's CA key, for sshd's TrustedUserCAKeys. */
export async function serveAppSshCA(store: Store, host: string): Promise<Response> {
  const ca = await appSshCA(store, host);
  return ca ? text(200, ca.publicKey) : text(404, `${host} is no application of this edge, so it has no SSH CA.`);
}

/**
 * `/ssh-ca.pub` on the edge's own host, where the edge-wide CA was: gone, and said so, so that
 * a provisioning script fails instead of installing a key that signs nothing.
 */
export const edgeSshCAGone = () =>
  text(410, `Each application has its own SSH CA: trust https://<application>${SSH_CA_PATH}, or what "wicket edge ssh-ca <application>" prints.`);
