// GET DOCTOR_PATH: what `wicket doctor` and `wicket tunnel doctor` ask the edge (the answer's
// shape is lib/wire/doctor.ts). Anyone learns the edge's version and whether an application
// serves the hostname, as the hostname's page already says; only a caller whose credentials
// identify them learns their own decision, and only an allowed one how many connectors serve
// it. Nothing here writes a row (a diagnosis is no connection, so no audit), and each answer
// costs a few indexed reads.
import { jwtClaims } from "../../auth/jwt-claims.ts";
import { bearerToken } from "../../wire/bearer.ts";
import { version } from "../../cli/run.ts";
import { evaluate } from "../../policy/evaluate.ts";
import { findApp, listNodes, listPolicies, type Store } from "../../store/index.ts";
import type { DoctorAnswer } from "../../wire/doctor.ts";
import { PROTOCOL_VERSION } from "../../wire/frame.ts";
import { CLIENT_ID_HEADER, CLIENT_SECRET_HEADER } from "../../wire/http.ts";
import { identify, userRevoked } from "../decisions/authorize.ts";
import type { Connectors } from "../streams/connectors.ts";
import type { ClusterNode } from "../cluster/sessions.ts";
import { CERT_VALIDITY_MS, principalFor } from "../decisions/ssh-cert.ts";
import { identifyConnector } from "../streams/tunnel-claims.ts";

export type DoctorContext = {
  store: Store;
  connectors?: Connectors;
  /** This node in a cluster: other nodes that hold connectors for the hostname are named too. */
  node?: () => ClusterNode | undefined;
};

const answer = (body: DoctorAnswer) => Response.json(body, { headers: { "cache-control": "no-store" } });
const edgeInfo = () => ({ version, protocol: PROTOCOL_VERSION });

/** A JWT's expiry, read after identify() verified it. */
function expiresAt(bearer: string): number | undefined {
  const exp = jwtClaims(bearer)?.exp;
  return typeof exp === "number" ? exp * 1000 : undefined;
}

/** On an application's hostname. */
export async function appDoctor(req: Request, ctx: DoctorContext, host: string, ip: string): Promise<Response> {
  const app = await findApp(ctx.store, host);
  const out: DoctorAnswer = { edge: edgeInfo(), app: app ? { hostname: app.hostname } : null };
  const bearer = bearerToken(req.headers.get("authorization"));
  const anonymous = !(req.headers.get(CLIENT_ID_HEADER) && req.headers.get(CLIENT_SECRET_HEADER)) && !bearer;
  if (!app || anonymous) return answer(out);

  const who = await identify(ctx.store, req, ip, host);
  if ("reject" in who) return answer({ ...out, identity: { refused: who.reject.reason } });
  const revoked = await userRevoked(ctx.store, who.subject, who.issuedAt);
  if (revoked) return answer({ ...out, identity: { refused: revoked } });
  const user = !who.subject.serviceToken;
  out.identity = { name: who.identity, kind: user ? "user" : "service-token", ...(user && bearer ? { expiresAt: expiresAt(bearer) } : {}) };
  const d = evaluate(await listPolicies(ctx.store, app.hostname), who.subject);
  out.decision = { allowed: d.allowed, ...(d.policy ? { policy: d.policy } : {}), ...(d.rule ? { rule: d.rule } : {}), explanation: d.explanation };
  if (!d.allowed) return answer(out);

  const live = (ctx.connectors?.all() ?? []).filter((c) => c.hostnames.includes(host) && !c.mux.closed && !c.mux.peerGoingAway);
  out.connectors = { here: live.length, tunnels: [...new Set(live.map((c) => c.tunnel.name))] };
  const self = ctx.node?.();
  if (self) {
    const others = (await listNodes(ctx.store, self.freshMs)).filter((n) => n.id !== self.id && !n.draining);
    out.connectors.nodes = others.flatMap((n) => n.hostnames.filter((h) => h.hostname === host).map((h) => ({ id: n.id, connections: h.connections })));
  }
  const principal = await principalFor(ctx.store, { host, ip, identity: who.identity, subject: who.subject, signIn: who.signIn });
  out.ssh = { ...(typeof principal === "string" ? { principal } : { problem: principal.error }), validForMs: CERT_VALIDITY_MS };
  return answer(out);
}

/** On the edge's host: whether the connector credential sent (as `tunnel` sends it) is live. */
export async function edgeDoctor(req: Request, ctx: DoctorContext): Promise<Response> {
  const authorization = req.headers.get("authorization");
  if (!authorization) return answer({ edge: edgeInfo() });
  const who = await identifyConnector(ctx.store, authorization);
  if ("refused" in who) return answer({ edge: edgeInfo(), credential: { refused: who.refused } });
  const credential: DoctorAnswer["credential"] =
    who.kind === "tunnel"
      ? { kind: "tunnel", zone: who.tunnel.zone, id: who.tunnel.id, tunnel: who.tunnel.name, expiresAt: who.tunnel.expiresAt }
      : { kind: "zone-credential", zone: who.credential.zone, id: who.credential.id, expiresAt: who.credential.expiresAt, obtainedBy: who.credential.obtainedBy || undefined };
  return answer({ edge: edgeInfo(), credential });
}
