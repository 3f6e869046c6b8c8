// The admin console at https://<edge host>/admin: server-rendered pages for what the signed-in
// person administers, with the edge's own sign-in (the org session cookie). Every form posts to
// /admin/do/<action> with a token bound to the session (lib/edge/http/cookies.ts), and every
// change is one admin API call as that person (./api.ts): the same routes, authorisation,
// audit and sentences as the CLI's, seen by the CLI and the other nodes at once.
import type { AdminContext } from "../admin/api.ts";
import { personCaller } from "../admin/people.ts";
import { BODY_LIMITS, BodyRefused, readText } from "../http/body.ts";
import { csrfToken, readCookies, SESSION_COOKIE, sessionFormOk, sessionFormToken } from "../http/cookies.ts";
import { errorPage, page, type Site } from "../http/pages.ts";
import { browserSignIn } from "../signin/routes.ts";
import type { SignInContext } from "../signin/oauth.ts";
import { getRecording, type AuditRecord } from "../../store/index.ts";
import { apiResponse, callApi } from "./api.ts";
import { CONSOLE_PATH, consolePage, esc, form, type Notice, type Viewer } from "./html.ts";
import { appView, auditQuery, auditView, credentialsView, nodesView, recordingsView, sessionsView, tokensView, tunnelsView, zonesView, type View } from "./views.ts";

export { CONSOLE_PATH } from "./html.ts";
export type ConsoleContext = { admin: AdminContext; signIn: SignInContext; site: () => Site };

type Show = (url: URL) => Promise<View>;
const redirect = (location: string) => new Response(null, { status: 303, headers: { location, "cache-control": "no-store" } });

/** The pages, by path under /admin. */
function views(ctx: AdminContext, v: Viewer): Record<string, Show> {
  return {
    "": () => zonesView(ctx, v),
    "/app": (url) => appView(ctx, v, url),
    "/sessions": () => sessionsView(ctx, v),
    "/audit": (url) => auditView(ctx, v, url),
    "/tokens": () => tokensView(ctx, v),
    "/tunnels": () => tunnelsView(ctx, v),
    "/credentials": () => credentialsView(ctx, v),
    "/recordings": () => recordingsView(ctx, v),
    "/nodes": () => nodesView(ctx, v),
  };
}

const list = (s: string | null) => (s ?? "").split(",").map((x) => x.trim()).filter(Boolean);

/** What each form does: one admin API call, the sentence it ends with (and what it made that is shown once), and the page shown after. */
type Action = (f: URLSearchParams) => { method: "POST" | "DELETE"; path: string; body?: unknown; done: (b: Record<string, unknown>) => string; secret?: (b: Record<string, unknown>) => Notice["secret"]; then: string };
const ACTIONS: Record<string, Action> = {
  "app-add": (f) => ({ method: "POST", path: "apps", body: { hostname: f.get("hostname") ?? "" }, done: () => `Added the application ${f.get("hostname")}.`, then: "" }),
  "app-remove": (f) => ({ method: "DELETE", path: `apps/${encodeURIComponent(f.get("hostname") ?? "")}`, done: () => `Removed the application ${f.get("hostname")} and its policies.`, then: "" }),
  "policy-add": (f) => ({
    method: "POST",
    path: "policies",
    body: { app: f.get("host") ?? "", name: f.get("name") ?? "", action: f.get("action") ?? "", include: list(f.get("include")), ...(list(f.get("require")).length ? { require: list(f.get("require")) } : {}) },
    done: () => `Added the policy "${f.get("name")}" to ${f.get("host")}.`,
    then: `/app?host=${encodeURIComponent(f.get("host") ?? "")}`,
  }),
  "policy-remove": (f) => ({ method: "DELETE", path: `policies/${encodeURIComponent(f.get("id") ?? "")}`, done: () => `Removed the policy.`, then: `/app?host=${encodeURIComponent(f.get("host") ?? "")}` }),
  "session-revoke": (f) => ({ method: "DELETE", path: `sessions/${encodeURIComponent(f.get("id") ?? "")}`, done: (b) => `Revoked the session ${f.get("id")}; ${b.elsewhere ? "the node that holds it ends it within a second" : "it is ended"}.`, then: "/sessions" }),
  "token-create": (f) => ({
    method: "POST",
    path: "tokens",
    body: { name: f.get("name") ?? "", ...(f.get("zone") ? { zone: f.get("zone") } : {}) },
    done: (b) => `Created the service token ${b.name}: id ${b.id}, secret ${b.secret}. The secret is shown this once; store it in your CI's secrets now.`,
    then: "/tokens",
  }),
  "token-revoke": (f) => ({ method: "DELETE", path: `tokens/${encodeURIComponent(f.get("id") ?? "")}`, done: () => `Revoked the service token; it is refused from now on.`, then: "/tokens" }),
  "credential-create": (f) => ({
    method: "POST",
    path: "tunnel-certs",
    body: { zone: f.get("zone") ?? "" },
    done: (b) => `Issued the zone credential ${b.id} for ${b.zone}. It is shown this once: save it on the server as cert.pem (mode 0600) and run wicket tunnel --origincert cert.pem.`,
    secret: (b) => ({ heading: "cert.pem", what: "the zone credential", text: String(b.credential) }),
    then: "/credentials",
  }),
  "credential-revoke": (f) => ({ method: "DELETE", path: `tunnel-certs/${encodeURIComponent(f.get("id") ?? "")}`, done: () => `Revoked the zone credential ${f.get("id")}; the tunnels it made are disabled and their connectors cut.`, then: "/credentials" }),
};

/** Answers /admin and below; undefined for any other path. */
export async function handleConsole(req: Request, url: URL, cc: ConsoleContext, ip: string): Promise<Response | undefined> {
  const sub = url.pathname === CONSOLE_PATH ? "" : url.pathname.startsWith(`${CONSOLE_PATH}/`) ? url.pathname.slice(CONSOLE_PATH.length).replace(/\/+$/, "") : undefined;
  if (sub === undefined) return undefined;
  const site = cc.site();
  const session = await browserSignIn(req, cc.signIn);
  if (!session) return redirect(`/sign-in?return=${encodeURIComponent(req.method === "GET" ? url.pathname + url.search : CONSOLE_PATH)}`);
  const ctx: AdminContext = { ...cc.admin, ip };
  const { token: csrf, setCookie } = csrfToken(req);
  const withCookie = (res: Response) => (setCookie && res.headers.append("set-cookie", setCookie), res);
  const who = await personCaller(ctx.store, ctx.admins, session, ip);
  if ("refused" in who) {
    const body = `<h1>You administer nothing here</h1><p class="notice" role="alert">${esc(who.refused)}</p>${form("/sign-out", csrf, {}, `<button type="submit" class="secondary">Sign out</button>`)}`;
    return withCookie(page(site, "Administration", body, 403));
  }
  if (who.kind !== "person") return errorPage(site, "Administration", "the console is for people; use the CLI with an admin token");
  const v: Viewer = { who, form: sessionFormToken(csrf, readCookies(req)[SESSION_COOKIE]!), csrf };
  const pages = views(ctx, v);
  const render = async (path: string, at: URL, notice?: Notice, status = 200) => {
    const view = await pages[path]!(at);
    return withCookie(consolePage(site, v, path, view.title, view.body, notice, notice ? status : (view.status ?? 200)));
  };

  if (req.method === "GET" && (sub === "/audit.jsonl" || sub === "/audit.csv")) return exportAudit(ctx, v, url, sub.endsWith("csv") ? "csv" : "jsonl");
  if (req.method === "GET" && pages[sub]) return render(sub, url);
  const rec = /^\/recordings\/(rec_[A-Za-z0-9_-]{1,64})(\.cast)?$/.exec(sub);
  if (req.method === "GET" && rec) return withCookie(await playback(ctx, v, site, rec[1]!, Boolean(rec[2])));
  const action = /^\/do\/([a-z-]+)$/.exec(sub)?.[1];
  if (req.method !== "POST" || !action || !ACTIONS[action]) return errorPage(site, "Not found", "There is no such page in the console; go back to /admin.", 404);

  let f: URLSearchParams;
  try {
    if (!(req.headers.get("content-type") ?? "").startsWith("application/x-www-form-urlencoded")) throw new Error("not a form");
    f = new URLSearchParams(await readText(req, BODY_LIMITS.form));
  } catch (e) {
    return errorPage(site, "Bad request", e instanceof BodyRefused ? e.message : "This form could not be read; go back and try again.", e instanceof BodyRefused ? e.status : 400);
  }
  if (!sessionFormOk(req, f, new URL(ctx.publicUrl).origin)) return errorPage(site, "Form expired", "This form was not sent from this console in this browser's sign-in; reload the page and try again.", 403);
  const a = ACTIONS[action]!(f);
  const r = await callApi<Record<string, unknown>>(ctx, who, a.method, a.path, a.body);
  const [path, query] = a.then.split("?");
  const at = new URL(`${CONSOLE_PATH}${path}${query ? `?${query}` : ""}`, ctx.publicUrl);
  return render(path!, at, r.ok ? { text: a.done(r.body), ok: true, secret: a.secret?.(r.body) } : { text: r.error, ok: false }, r.ok ? 200 : r.status);
}

/**
 * `/admin/recordings/<id>`: the bundled player (lib/edge/terminal/page.ts, with the policy of
 * its own that it needs), and `.cast`, the asciicast it plays. Both are the admin API's
 * `GET recordings/<id>` as the person: its zone check, and its sentence when refused.
 */
async function playback(ctx: AdminContext, v: Viewer, site: Site, id: string, cast: boolean): Promise<Response> {
  const res = await apiResponse(ctx, v.who, "GET", `recordings/${id}`);
  if (!res.ok) {
    const said = ((await res.json()) as { error?: string }).error ?? `the edge answered ${res.status}`;
    return consolePage(site, v, "/recordings", "Recording", `<p class="notice" role="alert">${esc(said)}</p>`, undefined, res.status);
  }
  if (cast) return new Response(res.body, { headers: { "content-type": "application/x-asciicast; charset=utf-8", "cache-control": "no-store" } });
  await res.body?.cancel();
  const r = await getRecording(ctx.store, id);
  const title = r ? `${r.identity} as ${r.principal} on ${r.host}, ${new Date(r.startedAt).toISOString()}${r.endedAt ? "" : " (still running)"}` : id;
  return (await import("../terminal/page.ts")).playerPage(site, { id, title, src: `${CONSOLE_PATH}/recordings/${id}.cast` });
}

const CSV_COLUMNS: (keyof AuditRecord)[] = ["id", "at", "kind", "allowed", "identity", "actor", "action", "host", "app", "ip", "policyName", "rule", "reason", "target", "sessionId"];
const csvCell = (v: unknown) => {
  const s = v === undefined || v === null ? "" : String(v);
  return /[",\n\r]/.test(s) || /^[=+\-@]/.test(s) ? `"${(/^[=+\-@]/.test(s) ? "'" : "") + s.replaceAll('"', '""')}"` : s;
};

/** The audit as the filters select it, as JSON lines or CSV (cells that a spreadsheet would run are quoted and prefixed). */
async function exportAudit(ctx: AdminContext, v: Viewer, url: URL, as: "jsonl" | "csv"): Promise<Response> {
  const r = await callApi<{ records: AuditRecord[] }>(ctx, v.who, "GET", `audit?${auditQuery(url)}`);
  if (!r.ok) return new Response(r.error + "\n", { status: r.status, headers: { "content-type": "text/plain; charset=utf-8" } });
  const records = r.body.records;
  const text =
    as === "jsonl"
      ? records.map((x) => JSON.stringify(x)).join("\n") + (records.length ? "\n" : "")
      : [CSV_COLUMNS.join(","), ...records.map((x) => CSV_COLUMNS.map((c) => csvCell(c === "at" ? new Date(x.at).toISOString() : x[c])).join(","))].join("\r\n") + "\r\n";
  const type = as === "jsonl" ? "application/x-ndjson" : "text/csv; charset=utf-8";
  return new Response(text, { headers: { "content-type": type, "content-disposition": `attachment; filename="audit.${as}"`, "cache-control": "no-store" } });
}
