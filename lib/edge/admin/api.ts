// The admin API under /api/v1/: zones, applications, service tokens, policies, tunnel
// credentials, the audit trail, live sessions and revocation, as JSON over HTTP with a
// bearer admin token or as a person who administers (authz.ts). Errors are `{ error }` with one sentence that says what to do; secrets
// are returned once and never logged. Every change is written to the audit. Each resource's
// routes are in the file named for it; this one finds the caller and the route.
import { verifyZoneCredential, verifyAdminToken, verifySignIn } from "../../store/index.ts";
import { bearerToken, idAndSecret } from "../../wire/bearer.ts";
import { type AdminContext, ADMIN_API_PREFIX, json, type Route, answer } from "./common.ts";
import { zoneRoutes } from "./zones.ts";
import { appRoutes } from "./apps.ts";
import { tokenRoutes } from "./tokens.ts";
import { policyRoutes } from "./policies.ts";
import { auditRoutes } from "./audit.ts";
import { sessionRoutes } from "./sessions.ts";
import { keyRoutes } from "./keys.ts";
import { credentialRoutes, tunnelRoutes } from "./tunnels.ts";
import { adminTokenRoutes } from "./admin-tokens.ts";
import { ACCESS } from "./access.ts";
import { refusal, tokenCaller, type Admin } from "./authz.ts";
import { personCaller } from "./people.ts";

export { ADMIN_API_PREFIX, type AdminContext } from "./common.ts";
export type { Admin } from "./authz.ts";

/** Every route an admin token may call, by "METHOD resource" or "METHOD resource/:". */
const ROUTES: Record<string, Route> = { ...zoneRoutes, ...appRoutes, ...tokenRoutes, ...policyRoutes, ...auditRoutes, ...sessionRoutes, ...keyRoutes, ...tunnelRoutes, ...adminTokenRoutes };
export const ADMIN_ROUTES: readonly string[] = Object.keys(ROUTES);

/** Answers a request whose path starts with /api/v1/. */
export async function handleAdmin(req: Request, ctx: AdminContext): Promise<Response> {
  const url = new URL(req.url);
  const auth = bearerToken(req.headers.get("authorization"));
  const token = auth ? await verifyAdminToken(ctx.store, auth) : undefined;
  if (!token && auth && /^\/api\/v1\/zone-(tunnels|routes|tunnel-secrets)(\/|$)/.test(url.pathname)) return handleZone(req, url, ctx, auth);
  // `wicket edge login`: a person, whose say is worked out from the store on every call
  const person = !token && auth ? await verifySignIn(ctx.store, auth, "admin") : undefined;
  if (person) {
    const who = await personCaller(ctx.store, ctx.admins, person, ctx.ip);
    return "refused" in who ? json(403, { error: who.refused }) : handleAdminAs(req, url, ctx, who);
  }
  if (!token) {
    return json(401, { error: "the admin token is missing or was refused; send Authorization: Bearer <admin token>" }, { "www-authenticate": 'Bearer realm="wicket admin"' });
  }
  return handleAdminAs(req, url, ctx, tokenCaller(token, ctx.ip));
}

/** Finds the route, asks whether this caller may call it on what it names, and runs it. */
export async function handleAdminAs(req: Request, url: URL, ctx: AdminContext, who: Admin): Promise<Response> {
  if (!url.pathname.startsWith(ADMIN_API_PREFIX)) return json(404, { error: `there is no admin API at ${url.pathname}; it lives under ${ADMIN_API_PREFIX}` });
  const segments = url.pathname.slice(ADMIN_API_PREFIX.length).replace(/\/+$/, "").split("/");
  if (segments.length > 2) return json(404, { error: `there is no admin API route ${req.method} ${url.pathname}` });
  let arg = "";
  try {
    arg = segments[1] === undefined ? "" : decodeURIComponent(segments[1]);
  } catch {
    return json(400, { error: `the path ${url.pathname} is not properly encoded` });
  }
  const key = `${req.method} ${segments[0]}${segments.length === 2 ? "/:" : ""}`;
  const route = ROUTES[key];
  if (!route) return json(404, { error: `there is no admin API route ${req.method} ${url.pathname}` });
  return answer(req, url, async () => {
    const access = ACCESS[key];
    if (!access) return json(403, { error: `the route ${key} does not say what it touches, so nobody may call it; report this as a bug` });
    const target = await access.target(req, ctx, arg, url, who);
    const refused = refusal(who, target, access.write);
    if (refused) return json(403, { error: refused });
    // by the id just checked, not the name asked for: what the route acts on is what was authorised
    return route(req, ctx, "arg" in target && target.arg ? target.arg : arg, who, url);
  });
}

/** The zone-credential routes: a credential that is not live gets 401 with the reason. */
async function handleZone(req: Request, url: URL, ctx: AdminContext, bearer: string): Promise<Response> {
  const c = idAndSecret(bearer);
  const r = c ? await verifyZoneCredential(ctx.store, c.id, c.secret) : undefined;
  if (!r || "refused" in r) return json(401, { error: r?.refused ?? "the zone credential was refused; run `wicket tunnel login`" });
  const [name, raw] = url.pathname.slice(ADMIN_API_PREFIX.length).replace(/\/+$/, "").split("/");
  const route = credentialRoutes[`${req.method} ${name}${raw !== undefined ? "/:" : ""}`];
  if (!route) return json(404, { error: `there is no route ${req.method} ${url.pathname}` });
  let arg = "";
  try {
    arg = raw === undefined ? "" : decodeURIComponent(raw);
  } catch {
    return json(400, { error: `the path ${url.pathname} is not properly encoded` });
  }
  return answer(req, url, () => route(req, ctx, arg, r.credential));
}
