// The console's pages, each read through the admin API as the person looking (./api.ts): what
// they show is what that person may see, filtered by the same code as the CLI's listings.
import type { AdminContext } from "../admin/api.ts";
import type { AppInfo, NodeSession, TunnelInfo, CertInfo, PolicyTestResult, UnreachableNode, ZoneCredentialInfo } from "../../admin-client/client.ts";
import type { AuditRecord, EdgeNode, Recording, ServiceToken, StoredPolicy, Zone } from "../../store/index.ts";
import { describeRules } from "../../policy/evaluate.ts";
import { callApi } from "./api.ts";
import { act, button, CONSOLE_PATH, esc, input, rowButton, select, table, when, type Viewer } from "./html.ts";

/** A page's title and body; `status` when what was asked for is refused (403) or failed. */
export type View = { title: string; body: string; status?: number };
type Ctx = AdminContext;

const failed = (title: string, error: string, status?: number): View => ({ title, body: `<p class="notice" role="alert">${esc(error)}</p>`, status });

export async function zonesView(ctx: Ctx, v: Viewer): Promise<View> {
  const zones = await callApi<{ zones: (Zone & { admins: string[] })[] }>(ctx, v.who, "GET", "zones");
  const apps = await callApi<{ apps: AppInfo[] }>(ctx, v.who, "GET", "apps");
  if (!zones.ok || !apps.ok) return failed("Zones and applications", zones.ok ? (apps as { error: string }).error : zones.error);
  const sections = zones.body.zones.map((z) => {
    const rows = apps.body.apps
      .filter((a) => a.zone === z.name)
      .map((a) => [`<a href="${CONSOLE_PATH}/app?host=${encodeURIComponent(a.hostname)}">${esc(a.hostname)}</a>`, esc(a.sshPrincipal), a.browserSsh ? "on" : "off", act(v, "app-remove", { hostname: a.hostname }, rowButton("Remove", a.hostname))]);
    return `<h2>${esc(z.name)}</h2><p class="muted">Admins: ${esc(z.admins.join(", ") || "none (edge admins only)")}</p>${table(`Applications of ${z.name}`, ["Application", "SSH principal", "Browser SSH", ""], rows, "No applications yet.")}`;
  });
  const add = act(v, "app-add", {}, `${input("hostname", "Hostname of a new application", { placeholder: `ssh.${zones.body.zones[0]?.name ?? "example.com"}`, required: true })}${button("Add application")}`, "row");
  return { title: "Zones and applications", body: `${zones.body.zones.length ? add : ""}${sections.join("") || '<p class="muted">No zones.</p>'}` };
}

export async function appView(ctx: Ctx, v: Viewer, url: URL): Promise<View> {
  const host = url.searchParams.get("host") ?? "";
  const title = `Application ${host}`;
  // may this person see this application at all? The what-if is authorised by the application's zone, and changes nothing
  const mine = await callApi(ctx, v.who, "POST", "policy-test", { host });
  if (!mine.ok && mine.status === 403) return failed(title, mine.error, 403);
  const policies = await callApi<{ policies: StoredPolicy[] }>(ctx, v.who, "GET", `policies?app=${encodeURIComponent(host)}`);
  if (!policies.ok) return failed(title, policies.error, policies.status);
  const rows = policies.body.policies.map((p) => [String(p.position), esc(p.name), esc(p.action), `<code>${esc(describeRules(p.rules))}</code>`, act(v, "policy-remove", { id: p.id, host }, rowButton("Remove", p.name))]);
  const add = act(
    v,
    "policy-add",
    { host },
    `${input("name", "Name", { required: true })}${select("action", "Action", [["allow", "allow"], ["deny", "deny"]])}${input("include", "Include (rules, comma-separated)", { placeholder: "domain:site.com, group:ops", required: true })}${input("require", "Require (optional)", { placeholder: "mfa" })}${button("Add policy")}`,
    "row",
  );
  // the what-if box: a read, so a GET form; its answer is the admin API's policy test
  const email = url.searchParams.get("email") ?? "";
  const ip = url.searchParams.get("ip") ?? "";
  let answer = "";
  if (email || ip) {
    const t = await callApi<PolicyTestResult>(ctx, v.who, "POST", "policy-test", { host, email: email || undefined, ip: ip || undefined });
    answer = t.ok ? `<p class="notice${t.body.decision.allowed ? " ok" : ""}" role="status" id="what-if-answer">${esc(t.body.message)}</p>` : `<p class="notice" role="alert" id="what-if-answer">${esc(t.error)}</p>`;
  }
  const whatIf = `<form method="get" action="${CONSOLE_PATH}/app" class="row"><input type="hidden" name="host" value="${esc(host)}">${input("email", "E-mail", { value: email, placeholder: "alice@site.com" })}${input("ip", "From the address", { value: ip, placeholder: "10.0.0.1" })}${button("Would they be let in?")}</form>${answer}`;
  return { title, body: `<h2>Policies, in order</h2>${table(`Policies of ${host}`, ["#", "Name", "Action", "Rules", ""], rows, "No policies: nobody is let in.")}<h2>Add a policy</h2>${add}<h2>What if</h2>${whatIf}` };
}

export async function sessionsView(ctx: Ctx, v: Viewer): Promise<View> {
  const r = await callApi<{ sessions: NodeSession[]; unreachable?: UnreachableNode[] }>(ctx, v.who, "GET", "sessions");
  if (!r.ok) return failed("Live sessions", r.error, r.status);
  const rows = r.body.sessions.map((s) => [`<code>${esc(s.id)}</code>`, esc(s.identity), esc(s.host), esc(s.ip), when(s.startedAt), act(v, "session-revoke", { id: s.id }, rowButton("Revoke", s.id))]);
  // a node that did not answer: the list is partial, and says whose sessions it lacks
  const partial = (r.body.unreachable ?? []).map((u) => `<p class="notice" role="status">Not listed: the sessions on node <code>${esc(u.node)}</code> (${esc(u.error)}).</p>`).join("");
  return { title: "Live sessions", body: partial + table("Live sessions", ["Session", "Who", "Application", "From", "Since", ""], rows, "No live sessions.") };
}

const AUDIT_FILTERS = ["user", "host", "kind", "denied", "since"] as const;

/** The audit query of the console's filters, as the admin API takes it. */
export function auditQuery(url: URL): string {
  const q = new URLSearchParams();
  for (const k of AUDIT_FILTERS) {
    const val = url.searchParams.get(k);
    if (!val) continue;
    q.set(k, k === "since" ? String(Date.parse(val) || val) : val);
  }
  q.set("limit", url.searchParams.get("limit") || "200");
  return q.toString();
}

export async function auditView(ctx: Ctx, v: Viewer, url: URL): Promise<View> {
  const r = await callApi<{ records: AuditRecord[] }>(ctx, v.who, "GET", `audit?${auditQuery(url)}`);
  const p = url.searchParams;
  const filters = `<form method="get" action="${CONSOLE_PATH}/audit" class="row">${input("user", "Who", { value: p.get("user") ?? "" })}${input("host", "Application", { value: p.get("host") ?? "" })}${select("kind", "Kind", [["", "all"], ["decision", "decisions"], ["session-end", "session ends"], ["admin", "admin changes"]], p.get("kind") ?? "")}${select("denied", "Decision", [["", "any"], ["1", "denied only"]], p.get("denied") ?? "")}${input("since", "Since (UTC)", { value: p.get("since") ?? "", placeholder: "2026-01-31T00:00" })}${button("Filter")}</form>`;
  const q = auditQuery(url);
  const exports = `<p>Export these: <a href="${CONSOLE_PATH}/audit.jsonl?${esc(q)}">JSON lines</a> · <a href="${CONSOLE_PATH}/audit.csv?${esc(q)}">CSV</a></p>`;
  if (!r.ok) return { title: "Audit", body: filters + `<p class="notice" role="alert">${esc(r.error)}</p>` };
  const rows = r.body.records.map((a) => [when(a.at), esc(a.kind), esc(a.actor ?? a.identity ?? ""), esc(a.host ?? a.target ?? ""), a.kind === "decision" ? (a.allowed ? "allowed" : "denied") : esc(a.action ?? ""), esc(a.reason ?? ""), esc(a.ip ?? "")]);
  return { title: "Audit", body: filters + exports + table("Audit records", ["When", "Kind", "Who", "What", "Decision or action", "Why", "From"], rows, "No records match.") };
}

export async function tokensView(ctx: Ctx, v: Viewer): Promise<View> {
  const r = await callApi<{ tokens: (ServiceToken & { zone?: string })[] }>(ctx, v.who, "GET", "tokens");
  if (!r.ok) return failed("Service tokens", r.error, r.status);
  const zones = v.who.edge ? [] : v.who.zones;
  const rows = r.body.tokens.map((t) => [esc(t.name), `<code>${esc(t.id)}</code>`, esc(t.zone ?? "(edge)"), when(t.createdAt), act(v, "token-revoke", { id: t.id }, rowButton("Revoke", t.name))]);
  const zoneField = zones.length > 1 ? select("zone", "Zone", zones.map((z) => [z, z])) : "";
  const add = act(v, "token-create", {}, `${input("name", "Name of a new service token", { required: true, placeholder: "ci-deploy" })}${zoneField}${button("Create token")}`, "row");
  return { title: "Service tokens", body: add + table("Service tokens", ["Name", "ID", "Zone", "Created", ""], rows, "No service tokens.") };
}

export async function tunnelsView(ctx: Ctx, v: Viewer): Promise<View> {
  const r = await callApi<{ tunnels: TunnelInfo[] }>(ctx, v.who, "GET", "tunnels");
  if (!r.ok) return failed("Tunnels", r.error, r.status);
  const rows = r.body.tunnels.map((t) => [esc(t.zone), esc(t.name), `<code>${esc(t.id)}</code>`, esc(t.routes.join(", ") || "-"), String(t.connections), esc(t.createdBy)]);
  return { title: "Tunnels", body: table("Tunnels", ["Zone", "Name", "ID", "Routes", "Connections here", "Made by"], rows, "No named tunnels.") };
}

export async function credentialsView(ctx: Ctx, v: Viewer): Promise<View> {
  const r = await callApi<{ credentials: ZoneCredentialInfo[] }>(ctx, v.who, "GET", "tunnel-certs");
  if (!r.ok) return failed("Zone credentials", r.error, r.status);
  const state = (c: ZoneCredentialInfo) => (c.revokedAt ? `revoked ${when(c.revokedAt)}` : c.expiresAt ? `until ${when(c.expiresAt)}` : "no end");
  const rows = r.body.credentials.map((c) => [
    `<code>${esc(c.id)}</code>`,
    esc(c.zone),
    esc(c.obtainedBy),
    when(c.createdAt),
    state(c),
    esc(c.tunnels.map((t) => t.name).join(", ") || "-"),
    c.revokedAt ? "" : act(v, "credential-revoke", { id: c.id }, rowButton("Revoke", c.id)),
  ]);
  // a credential is always for one zone: a zone admin's only one goes without asking
  const zones = v.who.zones;
  const zoneField = v.who.edge ? input("zone", "Zone", { required: true, placeholder: "example.com" }) : zones.length > 1 ? select("zone", "Zone", zones.map((z) => [z, z])) : "";
  const add = act(v, "credential-create", v.who.edge || zones.length > 1 ? {} : { zone: zones[0] ?? "" }, `${zoneField}${button("Issue a zone credential")}`, "row");
  const about = '<p class="muted">A zone credential (<code>cert.pem</code>) lets a server make tunnels and claim hostnames in its zone, as <code>wicket tunnel login</code> gets one. Revoking it disables the tunnels it made and cuts their connectors.</p>';
  return { title: "Zone credentials", body: about + add + table("Zone credentials", ["ID", "Zone", "Obtained by", "Issued", "Valid", "Tunnels it made", ""], rows, "No zone credentials.") };
}

export async function recordingsView(ctx: Ctx, v: Viewer): Promise<View> {
  const r = await callApi<{ recordings: Recording[] }>(ctx, v.who, "GET", "recordings?limit=200");
  if (!r.ok) return failed("Recordings", r.error, r.status);
  const rows = r.body.recordings.map((x) => [
    `<a href="${CONSOLE_PATH}/recordings/${encodeURIComponent(x.id)}">${esc(x.id)}</a>`,
    esc(x.identity),
    esc(x.principal),
    esc(x.host),
    when(x.startedAt),
    x.endedAt ? when(x.endedAt) : "still running",
    x.input ? "yes" : "no",
  ]);
  const about = '<p class="muted">Terminal sessions in the browser, of applications that record them (<code>wicket edge app edit &lt;hostname&gt; --record</code>). Open one to play it back.</p>';
  return { title: "Recordings", body: about + table("Recordings", ["Recording", "Who", "As", "Application", "Started", "Ended", "Keystrokes"], rows, "No recordings.") };
}

export async function nodesView(ctx: Ctx, v: Viewer): Promise<View> {
  const nodes = await callApi<{ nodes: EdgeNode[]; registry: boolean }>(ctx, v.who, "GET", "nodes");
  const certs = await callApi<{ certs: CertInfo[]; acme: boolean }>(ctx, v.who, "GET", "certs");
  if (!nodes.ok) return failed("Nodes and certificates", nodes.error, nodes.status);
  const nodeRows = nodes.body.nodes.map((n) => [esc(n.id), esc(n.peerUrl), esc(n.version), when(n.heartbeatAt), n.draining ? "yes" : "no"]);
  const certRows = certs.ok ? certs.body.certs.map((c) => [esc(c.name), when(c.notAfter), esc(c.lastError ?? "")]) : [];
  return {
    title: "Nodes and certificates",
    body: `${nodes.body.registry ? table("Nodes", ["Node", "Peer URL", "Version", "Heartbeat", "Draining"], nodeRows, "No nodes.") : '<p class="muted">One node on SQLite: no cluster registry.</p>'}<h2>Certificates</h2>${certs.ok && certs.body.acme ? table("Certificates", ["Name", "Valid until", "Last error"], certRows, "None yet.") : '<p class="muted">This edge does not get its certificates from ACME.</p>'}`,
  };
}
