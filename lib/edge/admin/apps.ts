// Applications, their SSH settings and CA (`wicket edge app`, `wicket edge ssh-ca`).
import { addApp, editApp, listApps, removeApp, checkPrincipalMode, appSshCA, retiredEdgeSshCA, setAppPrincipalMode, appPrincipalMode, appPrincipalModes, type App, allBrowserSsh, BROWSER_SSH_OFF, browserSsh, setBrowserSsh, type BrowserSsh, type BrowserSshChanges } from "../../store/index.ts";
import { HttpError, json, readBody, field, type Route, record, recheck } from "./common.ts";
import { visibleTo } from "./authz.ts";

function sessionLength(b: Record<string, unknown>): number | null | undefined {
  const v = b.sessionLengthMs;
  if (v === undefined || v === null) return v as undefined | null;
  if (typeof v !== "number") throw new HttpError(400, `"sessionLengthMs" must be a number of milliseconds, or null for the default`);
  return v;
}

/** `resumeGraceMs`: milliseconds (0: not resumable), null for the default; the store checks the range. */
function resumeGrace(b: Record<string, unknown>): number | null | undefined {
  const v = b.resumeGraceMs;
  if (v === undefined || v === null) return v as undefined | null;
  if (typeof v !== "number") throw new HttpError(400, `"resumeGraceMs" must be a number of milliseconds (0: not resumable), or null for the default`);
  return v;
}

const graceWords = (a: App) => `resume grace ${a.resumeGraceSet ? (a.resumeGraceMs ? `${a.resumeGraceMs} ms` : "0 (not resumable)") : "the default"}`;

/** The principal setting asked for, checked, or undefined when the body has none. */
function sshPrincipal(b: Record<string, unknown>): string | undefined {
  if (b.sshPrincipal === undefined) return undefined;
  if (typeof b.sshPrincipal !== "string") throw new HttpError(400, `"sshPrincipal" must be localpart, email or claim:<name>`);
  return checkPrincipalMode(b.sshPrincipal);
}

/** What the application's SSH certificates may name and permit (`allowSystemPrincipals`, `sshExtensions`), as asked; the store checks the names. */
function certChanges(b: Record<string, unknown>): { allowSystemPrincipals?: boolean; sshExtensions?: string[] } {
  const out: { allowSystemPrincipals?: boolean; sshExtensions?: string[] } = {};
  if (b.allowSystemPrincipals !== undefined) {
    if (typeof b.allowSystemPrincipals !== "boolean") throw new HttpError(400, `"allowSystemPrincipals" must be true or false`);
    out.allowSystemPrincipals = b.allowSystemPrincipals;
  }
  if (b.sshExtensions !== undefined) {
    if (!Array.isArray(b.sshExtensions) || b.sshExtensions.some((e) => typeof e !== "string")) throw new HttpError(400, `"sshExtensions" must be a list of agent, x11 and user-rc ([] for none)`);
    out.sshExtensions = b.sshExtensions as string[];
  }
  return out;
}

const certWords = (a: App, c: { allowSystemPrincipals?: boolean; sshExtensions?: string[] }) =>
  [
    c.allowSystemPrincipals !== undefined ? `system-account principals ${a.allowSystemPrincipals ? "allowed" : "refused"}` : "",
    c.sshExtensions !== undefined ? `SSH extensions ${a.sshExtensions.join(",") || "none"}` : "",
  ].filter(Boolean);

/** Browser SSH settings asked for (`browserSsh`, `record`, `recordInput`, `acceptHostKey`), checked; undefined when none. */
function browserChanges(b: Record<string, unknown>): BrowserSshChanges | undefined {
  const out: BrowserSshChanges = {};
  for (const [k, to] of [["browserSsh", "enabled"], ["record", "record"], ["recordInput", "recordInput"], ["acceptHostKey", "acceptHostKey"]] as const) {
    if (b[k] === undefined) continue;
    if (typeof b[k] !== "boolean") throw new HttpError(400, `"${k}" must be true or false`);
    out[to] = b[k] as boolean;
  }
  // bytes, or null for the edge's default
  const limit = b.recordingLimit;
  if (limit !== undefined) {
    if (limit !== null && (typeof limit !== "number" || !Number.isSafeInteger(limit))) throw new HttpError(400, `"recordingLimit" must be a whole number of bytes, or null for the default`);
    out.recordingLimit = limit;
  }
  return Object.keys(out).length ? out : undefined;
}

/** What an application shows of its browser SSH settings. */
const browserInfo = (s: BrowserSsh) => ({ browserSsh: s.enabled, record: s.record, recordInput: s.recordInput, recordingLimit: s.recordingLimit ?? null, hostKey: s.hostKey ?? null, refusedHostKey: s.refusedHostKey ?? null });

const browserWords = (c: BrowserSshChanges) =>
  [
    c.enabled !== undefined ? `browser SSH ${c.enabled ? "on" : "off"}` : "",
    c.record !== undefined ? `recording ${c.record ? "on" : "off"}` : "",
    c.recordInput !== undefined ? `recording input ${c.recordInput ? "on" : "off"}` : "",
    c.recordingLimit !== undefined ? `recording limit ${c.recordingLimit === null ? "the default" : `${c.recordingLimit} B`}` : "",
    c.acceptHostKey ? "accepted the server's new host key" : "",
  ].filter(Boolean);

export const appRoutes: Record<string, Route> = {
  "GET apps": async (_req, ctx, _arg, who, url) => {
    const modes = await appPrincipalModes(ctx.store);
    const apps = (await listApps(ctx.store, url.searchParams.get("zone") || undefined)).filter((a) => visibleTo(who)(a.zone));
    const browser = await allBrowserSsh(ctx.store);
    return json(200, { apps: apps.map((a) => ({ ...a, sshPrincipal: modes.get(a.hostname) ?? "localpart", ...browserInfo(browser.get(a.hostname) ?? BROWSER_SSH_OFF) })) });
  },
  "POST apps": async (req, ctx, _arg, who) => {
    const b = await readBody(req);
    const mode = sshPrincipal(b);
    const browser = browserChanges(b);
    const cert = certChanges(b);
    if (browser?.acceptHostKey) throw new HttpError(400, `a new application has no host key to accept`);
    const app = await addApp(ctx.store, field(b, "hostname"), { sessionLengthMs: sessionLength(b) ?? undefined, resumeGraceMs: resumeGrace(b) ?? undefined, ...cert });
    if (mode) await setAppPrincipalMode(ctx.store, app.hostname, mode);
    const settings = browser ? await setBrowserSsh(ctx.store, app.hostname, browser) : BROWSER_SSH_OFF; // a new application has no settings yet
    const extras = [
      app.sessionLengthSet ? `session length ${app.sessionLengthMs} ms` : "",
      app.resumeGraceSet ? graceWords(app) : "",
      mode ? `SSH principal ${mode}` : "",
      ...certWords(app, cert),
      ...(browser ? browserWords(browser) : []),
    ]
      .filter(Boolean)
      .join(", ");
    await record(ctx, who, "app.add", `added application ${app.hostname}${extras ? ` (${extras})` : ""}`, { target: app.hostname, host: app.hostname });
    return json(201, { app: { ...app, sshPrincipal: mode ?? "localpart", ...browserInfo(settings) } });
  },
  "PATCH apps/:": async (req, ctx, arg, who) => {
    const b = await readBody(req);
    const mode = sshPrincipal(b);
    const length = sessionLength(b);
    const grace = resumeGrace(b);
    const browser = browserChanges(b);
    const cert = certChanges(b);
    if (length === undefined && grace === undefined && !mode && !browser && !Object.keys(cert).length) {
      throw new HttpError(400, `say what to change: "sessionLengthMs", "resumeGraceMs", "sshPrincipal", "allowSystemPrincipals", "sshExtensions", "browserSsh", "record", "recordInput", "recordingLimit" or "acceptHostKey"`);
    }
    const app = await editApp(ctx.store, arg, { sessionLengthMs: length, resumeGraceMs: grace, ...cert });
    if (mode) await setAppPrincipalMode(ctx.store, app.hostname, mode);
    const settings = browser ? await setBrowserSsh(ctx.store, app.hostname, browser) : await browserSsh(ctx.store, app.hostname);
    const changes = [
      length !== undefined ? `session length ${app.sessionLengthSet ? `${app.sessionLengthMs} ms` : "the default"}` : "",
      grace !== undefined ? graceWords(app) : "",
      mode ? `SSH principal ${mode}` : "",
      ...certWords(app, cert),
      ...(browser ? browserWords(browser) : []),
    ].filter(Boolean);
    await record(ctx, who, "app.edit", `changed application ${app.hostname}: ${changes.join(", ")}`, { target: app.hostname, host: app.hostname });
    return json(200, { app: { ...app, sshPrincipal: await appPrincipalMode(ctx.store, app.hostname), ...browserInfo(settings) } });
  },
  "DELETE apps/:": async (_req, ctx, arg, who) => {
    const app = await removeApp(ctx.store, arg);
    await record(ctx, who, "app.remove", `removed application ${app.hostname} and its policies`, { target: app.hostname, host: app.hostname });
    return json(200, { app, sessionsClosed: await recheck(ctx) });
  },

  // An application's SSH CA key, and the retired edge-wide one, so servers that trust it can be found.
  "GET ssh-ca": async (_req, ctx, _arg, _who, url) => {
    const hostname = url.searchParams.get("hostname");
    if (!hostname) throw new HttpError(400, `name the application whose SSH CA you want: "wicket edge ssh-ca <hostname>"`);
    const ca = await appSshCA(ctx.store, hostname);
    if (!ca) throw new HttpError(404, `there is no application "${hostname}", so no SSH CA; see "wicket edge app list"`);
    return json(200, { app: ca.app, publicKey: ca.publicKey, retiredEdgeKey: (await retiredEdgeSshCA(ctx.store)) ?? null });
  },

};
