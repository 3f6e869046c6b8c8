// The edge as SSH CA: a caller allowed to reach an application gets a certificate for an
// ephemeral key, valid for minutes, naming the Unix user it may log in as.
import { log } from "../cli/log.ts";
import { parseEd25519PublicLine, signUserCert } from "../ssh/format.ts";
import { randomId } from "../auth/secret.ts";
import { claimAt } from "../auth/oidc.ts";
import { appPrincipalMode, findApp, getSession, sshCA, tokenPrincipal, type Store } from "../store/index.ts";
import { Close } from "../wire/close.ts";
import type { ClientAuth } from "./authorize.ts";

export const CERT_VALIDITY_MS = 5 * 60_000;
/** What a principal taken from a claim may be: no blanks, commas or control characters. */
const PRINCIPAL = /^[^\s,\x00-\x1f\x7f]{1,256}$/;
/** Certificates start a minute in the past, for clocks that run slow. */
const CLOCK_SKEW_MS = 60_000;

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", "cache-control": "no-store" } });

const STATUS: Record<number, number> = { [Close.unauthenticated]: 401, [Close.denied]: 403, [Close.unknownHost]: 404, [Close.unavailable]: 503 };

/** The principal for an allowed subject, or a sentence saying why there is none. */
async function principalFor(store: Store, auth: ClientAuth): Promise<string | { error: string }> {
  const s = auth.subject!;
  if (s.serviceToken) {
    return (await tokenPrincipal(store, s.serviceToken.id)) ?? { error: `the service token "${s.serviceToken.name}" has no SSH principal; create it with --principal <unix-user>` };
  }
  if (!s.email) return { error: "the signed-in identity has no e-mail address to name a principal" };
  const app = await findApp(store, auth.host);
  const mode = await appPrincipalMode(store, app!.hostname);
  if (mode === "email") return s.email;
  if (mode.startsWith("claim:")) {
    // what the identity provider said at sign-in, kept with the session the token came from
    const name = mode.slice("claim:".length);
    const session = auth.signIn ? await getSession(store, auth.signIn) : undefined;
    const v = claimAt(session?.claims ?? {}, name);
    if (typeof v !== "string" || !v) {
      return { error: `the sign-in of ${s.email} (with ${s.idp ?? "a provider"}) carries no "${name}" claim, which names the Unix user for ${auth.host}; sign in again if the provider gives it now, or ask the administrator` };
    }
    if (!PRINCIPAL.test(v)) return { error: `the "${name}" claim of ${s.email} (${JSON.stringify(v.slice(0, 64))}) is not a Unix user name an SSH certificate can carry` };
    return v;
  }
  return s.email.split("@")[0]!;
}

export async function handleSshCert(req: Request, store: Store, auth: ClientAuth): Promise<Response> {
  if (auth.reject) return json(STATUS[auth.reject.code] ?? 403, { error: auth.reject.reason });
  let body: { public_key?: unknown };
  try {
    body = (await req.json()) as typeof body;
  } catch {
    return json(400, { error: "the request body must be JSON: {\"public_key\": \"ssh-ed25519 AAAA…\"}" });
  }
  const key = typeof body.public_key === "string" ? parseEd25519PublicLine(body.public_key) : undefined;
  if (!key) return json(400, { error: "public_key is not a valid ssh-ed25519 public key" });
  const principal = await principalFor(store, auth);
  if (typeof principal !== "string") return json(403, principal);
  const grant = randomId("grant_");
  const now = Date.now();
  const validBefore = new Date(now + CERT_VALIDITY_MS);
  // sshd logs the key id on login, so it names who and which grant.
  const keyId = `${auth.identity} ${grant}`;
  const certificate = signUserCert({ ca: (await sshCA(store)).key, publicKey: key, keyId, principals: [principal], validAfter: new Date(now - CLOCK_SKEW_MS), validBefore });
  log.info(`ssh certificate for ${auth.identity} as ${principal} on ${auth.host} from ${auth.ip}, valid until ${validBefore.toISOString()} (${grant})`);
  return json(200, { certificate, principal, valid_before: validBefore.toISOString(), key_id: keyId });
}
