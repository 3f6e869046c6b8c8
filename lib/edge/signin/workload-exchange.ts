// OAuth 2.0 Token Exchange (RFC 8693) at the token endpoint: a workload's ID token (a CI
// job's, a Kubernetes pod's) for a short-lived app token of one application. The ID token is
// checked (lib/auth/workload.ts), the application's policies judge its claims, and it is
// accepted once across the cluster (lib/store/workload-tokens.ts). No ID token is logged or
// audited: the audit names the issuer, the subject and the claims that matched.
import { randomId } from "../../auth/secret.ts";
import { signWorkloadToken } from "../../auth/jwt.ts";
import { CLOCK_SKEW_S, verifyWorkloadToken } from "../../auth/workload.ts";
import { log } from "../../cli/log.ts";
import { decisionMessage, evaluate } from "../../policy/evaluate.ts";
import { workloadLabel } from "../../policy/workload.ts";
import { consumeWorkloadToken, findApp, listPolicies, writeAudit, type Store } from "../../store/index.ts";
import { ID_TOKEN_TYPE, JWT_TOKEN_TYPE } from "../../wire/http.ts";
import { refuseAllowed, type ClientAuth } from "../decisions/authorize.ts";
import { admit, retryAfter, type SignInLimits } from "./rate-limit.ts";
import type { IdentitySettings } from "../config/file.ts";

/** What the exchange needs of the sign-in context (lib/edge/signin/oauth.ts). */
export type ExchangeContext = { store: Store; publicUrl: () => string; identity: IdentitySettings; limits: SignInLimits };

type Reply = (status: number, body: unknown) => Response;
export type ExchangeReplies = { json: Reply; error: (error: string, description: string, status?: number) => Response };

/** The application an exchange is for: `resource=https://host` (RFC 8707) or `audience=host` (RFC 8693). */
function targetHost(f: URLSearchParams): string | undefined {
  const resource = f.get("resource");
  const raw = resource ? URL.parse(resource)?.hostname : f.get("audience");
  const h = raw?.trim().toLowerCase();
  return h && /^[a-z0-9.-]{1,253}$/.test(h) ? h : undefined;
}

function auditAllowed(store: Store, a: ClientAuth, grant: string) {
  const d = a.decision!;
  return writeAudit(store, {
    kind: "decision",
    allowed: true,
    identity: a.identity,
    host: a.host,
    app: a.app,
    ip: a.ip,
    policyId: d.policy?.id,
    policyName: d.policy?.name,
    rule: d.rule,
    reason: `${d.explanation}; an ID token was exchanged for an app token (${grant})`,
  });
}

/** The exchange: the form is already read and its client_id checked. */
export async function workloadExchange(f: URLSearchParams, ctx: ExchangeContext, ip: string, r: ExchangeReplies): Promise<Response> {
  const type = f.get("subject_token_type");
  if (type !== ID_TOKEN_TYPE && type !== JWT_TOKEN_TYPE) return r.error("invalid_request", `send the workload's ID token as subject_token, with subject_token_type=${ID_TOKEN_TYPE}`);
  const idToken = f.get("subject_token") ?? "";
  const host = targetHost(f);
  if (!host) return r.error("invalid_target", "pass resource=https://<application hostname>");
  const issuers = ctx.identity.workloadIssuers;
  if (issuers.length === 0) return r.error("invalid_grant", "this edge trusts no issuer of workload ID tokens (workload-issuers in edge.yaml); use a service token");
  const wait = admit(ctx.limits, "workload_exchange", ip);
  if (wait > 0) {
    const res = r.error("slow_down", `too many ID tokens were sent from this address; try again in ${retryAfter(wait)} seconds`, 429);
    res.headers.set("retry-after", retryAfter(wait));
    return res;
  }

  const v = await verifyWorkloadToken(issuers, idToken, ctx.publicUrl());
  if ("reason" in v) {
    // Not yet anyone: logged, not audited (anonymous requests write nothing durable).
    log.info(`workload token exchange for ${host} from ${ip} refused: the ID token ${v.reason}`);
    return r.error("invalid_grant", `the ID token was refused: ${v.reason}`);
  }
  const app = await findApp(ctx.store, host);
  if (!app) return r.error("invalid_target", `the edge serves no application at ${host}; check the hostname`);
  const subject = { workload: v.workload, ip };
  const auth: ClientAuth = { host, ip, identity: workloadLabel(v.workload), app: app.hostname, subject, decidedAt: Date.now() };
  auth.decision = evaluate(await listPolicies(ctx.store, app.hostname), subject);
  if (!auth.decision.allowed) {
    const sentence = decisionMessage(host, auth.decision);
    await refuseAllowed(ctx.store, auth, auth.decision.explanation);
    return r.error("access_denied", sentence);
  }
  // Kept past its expiry by the skew its expiry is checked with, so that it cannot come back then.
  const used = await consumeWorkloadToken(ctx.store, v.replayKey, v.issuer.name, (v.exp + CLOCK_SKEW_S) * 1000);
  if (used === "replayed") {
    await refuseAllowed(ctx.store, auth, "the ID token was already exchanged once");
    return r.error("invalid_grant", "the ID token was refused: it was already exchanged once; ask the platform for a new one");
  }
  if (used === "full") return r.error("temporarily_unavailable", "the edge has too many ID tokens to remember; try again later", 503);

  // The application's session length, never past the ID token's own expiry.
  const length = app.sessionLengthSet ? app.sessionLengthMs : ctx.identity.appSessionMs;
  const expiresAt = Math.min(Date.now() + length, v.exp * 1000);
  const grant = randomId("wlx_");
  const token = await signWorkloadToken(ctx.store, { issuer: ctx.publicUrl(), audience: host, workload: v.workload, grant, expiresAt });
  try {
    await auditAllowed(ctx.store, auth, grant);
  } catch (e) {
    log.error(`audit: cannot record the token exchange of ${auth.identity} for ${host}: ${(e as Error).message}`);
    return r.error("temporarily_unavailable", "the edge cannot write its audit log, so it lets no one in; try again later", 503);
  }
  log.info(`workload token exchange: ${auth.identity} for ${host} from ${ip} (${grant}): ${auth.decision.explanation}`);
  return r.json(200, { access_token: token, issued_token_type: JWT_TOKEN_TYPE, token_type: "Bearer", expires_in: Math.max(0, Math.floor((expiresAt - Date.now()) / 1000)) });
}
