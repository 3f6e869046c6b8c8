// The admin API under /api/v1/: zones, applications, service tokens, policies and tunnel
// credentials, as JSON over HTTP with a bearer admin token. Errors are `{ error }` with one
// sentence that says what to do; secrets are returned once and never logged.
import { formatZoneCredential } from "../auth/zone-credential.ts";
import { EXIT, WicketError } from "../cli/exit.ts";
import { log } from "../cli/log.ts";
import {
  addApp,
  addPolicy,
  addZone,
  addZoneAdmins,
  listZoneAdmins,
  parseZoneAdmin,
  createServiceToken,
  createZoneCredential,
  listApps,
  listPolicies,
  listServiceTokens,
  listZones,
  removeApp,
  removePolicy,
  removeServiceToken,
  removeZone,
  StoreError,
  verifyAdminToken,
  type AdminToken,
  type Store, checkPrincipal, checkPrincipalMode, sshCA, setAppPrincipalMode, setTokenPrincipal } from "../store/index.ts";

export type AdminContext = {
  store: Store;
  /** The edge's public URL, written into tunnel credentials. */
  publicUrl: string;
  /** The edge's own CA certificate (self-signed TLS), bundled into tunnel credentials. */
  caPem?: string;
  /** Called after a zone is added or removed: the edge issues or drops its TLS certificate. */
  onZonesChanged(): Promise<void>;
};

export const ADMIN_API_PREFIX = "/api/v1/";

const STATUS: Record<StoreError["kind"], number> = { invalid: 400, "not-found": 404, conflict: 409 };

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  // no-store: responses can carry secrets that are shown once.
  return Response.json(body, { status, headers: { "cache-control": "no-store", ...headers } });
}

async function readBody(req: Request): Promise<Record<string, unknown>> {
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    throw new HttpError(400, "the request body must be a JSON object");
  }
  if (!body || typeof body !== "object" || Array.isArray(body)) throw new HttpError(400, "the request body must be a JSON object");
  return body as Record<string, unknown>;
}

function field(body: Record<string, unknown>, ...names: string[]): string {
  for (const n of names) if (typeof body[n] === "string" && body[n]) return body[n] as string;
  throw new HttpError(400, `the request body needs "${names[0]}" (a string)`);
}

async function zonesChanged(ctx: AdminContext) {
  try {
    await ctx.onZonesChanged();
  } catch (e) {
    log.warn(`admin: the zone change is saved, but updating the edge's certificates failed: ${(e as Error).message}`);
  }
}

type Route = (req: Request, ctx: AdminContext, arg: string, who: AdminToken, url: URL) => Promise<Response>;

const routes: Record<string, Route> = {
  "GET zones": async (_req, ctx) => json(200, { zones: await Promise.all((await listZones(ctx.store)).map(async (z) => ({ ...z, admins: await listZoneAdmins(ctx.store, z.name) }))) }),
  "POST zones": async (req, ctx, _arg, who) => {
    const body = await readBody(req);
    if (body.admins !== undefined && (!Array.isArray(body.admins) || body.admins.some((a) => typeof a !== "string"))) throw new HttpError(400, `"admins" must be a list of strings`);
    const admins = ((body.admins as string[] | undefined) ?? []).map(parseZoneAdmin); // checked before the zone is made
    const zone = { ...(await addZone(ctx.store, field(body, "name", "zone"))), admins: [] as string[] };
    if (admins.length) zone.admins = await addZoneAdmins(ctx.store, zone.name, admins);
    log.info(`admin ${who.name}: added zone ${zone.name}${admins.length ? ` administered by ${admins.join(", ")}` : ""}`);
    await zonesChanged(ctx);
    return json(201, { zone });
  },
  "DELETE zones/:": async (_req, ctx, arg, who) => {
    const zone = await removeZone(ctx.store, arg);
    log.info(`admin ${who.name}: removed zone ${zone.name}`);
    await zonesChanged(ctx);
    return json(200, { zone });
  },

  "GET apps": async (_req, ctx, _arg, _who, url) => json(200, { apps: await listApps(ctx.store, url.searchParams.get("zone") || undefined) }),
  "POST apps": async (req, ctx, _arg, who) => {
    const body = await readBody(req);
    if (body.sshPrincipal !== undefined) checkPrincipalMode(String(body.sshPrincipal));
    const app = await addApp(ctx.store, field(body, "hostname"));
    if (body.sshPrincipal !== undefined) await setAppPrincipalMode(ctx.store, app.hostname, String(body.sshPrincipal));
    log.info(`admin ${who.name}: added application ${app.hostname}`);
    return json(201, { app });
  },
  "DELETE apps/:": async (_req, ctx, arg, who) => {
    const app = await removeApp(ctx.store, arg);
    log.info(`admin ${who.name}: removed application ${app.hostname} and its policies`);
    return json(200, { app });
  },

  "GET ssh-ca": async (_req, ctx) => json(200, { publicKey: (await sshCA(ctx.store)).publicKey }),

  "GET tokens": async (_req, ctx) => json(200, { tokens: await listServiceTokens(ctx.store) }),
  "POST tokens": async (req, ctx, _arg, who) => {
    const body = await readBody(req);
    if (body.principal !== undefined) checkPrincipal(String(body.principal)); // before the token exists
    const { secret, ...token } = await createServiceToken(ctx.store, field(body, "name"));
    if (body.principal !== undefined) await setTokenPrincipal(ctx.store, token.id, String(body.principal));
    log.info(`admin ${who.name}: created service token ${token.name} (${token.id})${body.principal ? ` with SSH principal ${body.principal}` : ""}`);
    return json(201, { ...token, secret });
  },
  "DELETE tokens/:": async (_req, ctx, arg, who) => {
    const token = await removeServiceToken(ctx.store, arg);
    log.info(`admin ${who.name}: revoked service token ${token.name} (${token.id})`);
    return json(200, { token });
  },

  "GET policies": async (_req, ctx, _arg, _who, url) => json(200, { policies: await listPolicies(ctx.store, url.searchParams.get("app") || undefined) }),
  "POST policies": async (req, ctx, _arg, who) => {
    const b = await readBody(req);
    const list = (k: string) => (b[k] === undefined ? undefined : Array.isArray(b[k]) ? (b[k] as unknown[]) : [b[k]]);
    if (b.position !== undefined && typeof b.position !== "number") throw new HttpError(400, `"position" must be a number`);
    const policy = await addPolicy(ctx.store, {
      app: field(b, "app", "hostname"),
      name: field(b, "name"),
      action: field(b, "action"),
      include: list("include") ?? [],
      exclude: list("exclude"),
      require: list("require"),
      position: b.position as number | undefined,
    });
    log.info(`admin ${who.name}: added policy "${policy.name}" (${policy.id}) to ${policy.app}`);
    return json(201, { policy });
  },
  "DELETE policies/:": async (_req, ctx, arg, who) => {
    const policy = await removePolicy(ctx.store, arg);
    log.info(`admin ${who.name}: removed policy "${policy.name}" (${policy.id}) from ${policy.app}`);
    return json(200, { policy });
  },

  "POST tunnel-certs": async (req, ctx, _arg, who) => {
    const { id, zone, secret } = await createZoneCredential(ctx.store, field(await readBody(req), "zone"));
    log.info(`admin ${who.name}: issued zone credential ${id} for ${zone}`);
    const credential = formatZoneCredential({ edge: ctx.publicUrl, zone, id, secret, caPem: ctx.caPem });
    return json(201, { id, zone, credential });
  },
};

/** Answers a request whose path starts with /api/v1/. */
export async function handleAdmin(req: Request, ctx: AdminContext): Promise<Response> {
  const url = new URL(req.url);
  const auth = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.get("authorization") ?? "");
  const who = auth ? await verifyAdminToken(ctx.store, auth[1]!) : undefined;
  if (!who) {
    return json(401, { error: "the admin token is missing or was refused; send Authorization: Bearer <admin token>" }, { "www-authenticate": 'Bearer realm="wicket admin"' });
  }
  if (!url.pathname.startsWith(ADMIN_API_PREFIX)) return json(404, { error: `there is no admin API at ${url.pathname}; it lives under ${ADMIN_API_PREFIX}` });

  const segments = url.pathname.slice(ADMIN_API_PREFIX.length).replace(/\/+$/, "").split("/");
  if (segments.length > 2) return json(404, { error: `there is no admin API route ${req.method} ${url.pathname}` });
  let arg = "";
  try {
    arg = segments[1] === undefined ? "" : decodeURIComponent(segments[1]);
  } catch {
    return json(400, { error: `the path ${url.pathname} is not properly encoded` });
  }
  const route = routes[`${req.method} ${segments[0]}${segments.length === 2 ? "/:" : ""}`];
  if (!route) return json(404, { error: `there is no admin API route ${req.method} ${url.pathname}` });

  try {
    return await route(req, ctx, arg, who, url);
  } catch (e) {
    if (e instanceof StoreError) return json(STATUS[e.kind], { error: e.message });
    if (e instanceof HttpError) return json(e.status, { error: e.message });
    // Other user errors (a bad rule string, say) are the caller's to fix.
    if (e instanceof WicketError && e.exitCode === EXIT.usage) return json(400, { error: e.message });
    log.error(`admin API ${req.method} ${url.pathname} failed: ${(e as Error)?.message ?? e}`);
    log.debug((e as Error)?.stack ?? "");
    return json(500, { error: "the edge failed to handle this request; see its log" });
  }
}
