// What each admin route touches, for authorize() (authz.ts): the whole edge, the zone of the
// hostname or id it names (looked up in the store, never taken from the body), or a listing
// the route filters to the caller's zones; and whether it writes. A route missing here is
// refused: a new route must say what it touches before anyone may call it.
import { appOwner, getAdminToken, policyOwner, recordingOwner, serviceTokenOwner, tunnelOwner, zoneCredentialOwner, zoneOfName, auditedOpenSession, type Owner } from "../../store/index.ts";
import { type AdminContext, HttpError, readBody } from "./common.ts";
import { adminZones, type Admin, type Target } from "./authz.ts";

type Resolve = (req: Request, ctx: AdminContext, arg: string, url: URL, who: Admin) => Promise<Target>;
export type Access = { write: boolean; target: Resolve };

const EDGE: Target = { edge: true };
const LIST: Target = { list: true };
const edge = (write: boolean): Access => ({ write, target: async () => EDGE });
const list: Access = { write: false, target: async () => LIST };

/** The body, read from a copy: the route reads it again. */
const peek = (req: Request) => readBody(req.clone() as Request);
const text = (b: Record<string, unknown>, ...keys: string[]) => keys.map((k) => b[k]).find((v): v is string => typeof v === "string" && v !== "");

const owned = (o: Owner, what: string): Target => ({ zone: o.zone, found: o.found, what, arg: o.id });
const inZone = (zone: string | undefined, what: string): Target => ({ zone, found: zone !== undefined, what });

/** The zone a new service token, admin token or zone credential is for: the body's, else a zone admin's one zone; undefined is edge-wide. */
export async function zoneAskedFor(body: Record<string, unknown>, who: Admin): Promise<string | undefined> {
  const asked = text(body, "zone");
  if (asked === undefined) {
    const zones = adminZones(who);
    if (zones === "all") return undefined;
    if (zones.length === 1) return zones[0];
    throw new HttpError(400, `say which zone it is for: "zone" (one of ${zones.join(", ")})`);
  }
  return asked.trim().toLowerCase().replace(/\.$/, "");
}

export const ACCESS: Record<string, Access> = {
  "GET zones": list,
  "POST zones": edge(true),
  "PATCH zones/:": edge(true),
  "DELETE zones/:": edge(true),

  "GET apps": list,
  "POST apps": { write: true, target: async (req, ctx) => {
    const host = text(await peek(req), "hostname") ?? "";
    return inZone(await zoneOfName(ctx.store, host), `the hostname ${host}`);
  } },
  "PATCH apps/:": { write: true, target: async (_r, ctx, arg) => owned(await appOwner(ctx.store, arg), `the application ${arg}`) },
  "DELETE apps/:": { write: true, target: async (_r, ctx, arg) => owned(await appOwner(ctx.store, arg), `the application ${arg}`) },
  "GET ssh-ca": { write: false, target: async (_r, ctx, _a, url) => {
    const host = url.searchParams.get("hostname");
    return host ? owned(await appOwner(ctx.store, host), `the application ${host}`) : LIST;
  } },

  "GET tokens": list,
  "POST tokens": { write: true, target: async (req, _ctx, _a, _u, who) => {
    const zone = await zoneAskedFor(await peek(req), who);
    return zone === undefined ? EDGE : inZone(zone, `the zone ${zone}`);
  } },
  "DELETE tokens/:": { write: true, target: async (_r, ctx, arg) => owned(await serviceTokenOwner(ctx.store, arg), `the service token "${arg}"`) },

  "GET policies": list,
  "POST policies": { write: true, target: async (req, ctx) => {
    const host = text(await peek(req), "app", "hostname") ?? "";
    return owned(await appOwner(ctx.store, host), `the application ${host}`);
  } },
  "PATCH policies/:": { write: true, target: async (_r, ctx, arg) => owned(await policyOwner(ctx.store, arg), `the policy ${arg}`) },
  "DELETE policies/:": { write: true, target: async (_r, ctx, arg) => owned(await policyOwner(ctx.store, arg), `the policy ${arg}`) },
  // a what-if: it reads
  "POST policy-test": { write: false, target: async (req, ctx) => {
    const host = text(await peek(req), "host", "hostname") ?? "";
    return inZone(await zoneOfName(ctx.store, host), `the hostname ${host}`);
  } },

  "GET audit": list,
  "GET recordings": list,
  "GET recordings/:": { write: false, target: async (_r, ctx, arg) => owned(await recordingOwner(ctx.store, arg), `the recording ${arg}`) },

  "GET sessions": list,
  "DELETE sessions/:": { write: true, target: async (_r, ctx, arg) => {
    const host = ctx.sessions?.get(arg)?.host ?? (await auditedOpenSession(ctx.store, arg))?.host;
    return host ? inZone(await zoneOfName(ctx.store, host), `the session ${arg}`) : { zone: undefined, found: false, what: `the session ${arg}` };
  } },
  // a person's sign-in is theirs across every zone
  "GET user-revocations": edge(false),
  "POST user-revocations": edge(true),

  "GET certs": edge(false),
  "POST certs/:": edge(true),
  "GET nodes": edge(false),
  "GET signing-keys": edge(false),
  "POST signing-keys": edge(true),

  "GET tunnel-certs": list,
  "POST tunnel-certs": { write: true, target: async (req) => {
    const zone = text(await peek(req), "zone");
    return inZone(zone?.trim().toLowerCase().replace(/\.$/, ""), `the zone ${zone}`);
  } },
  "DELETE tunnel-certs/:": { write: true, target: async (_r, ctx, arg) => owned(await zoneCredentialOwner(ctx.store, arg), `the zone credential ${arg}`) },
  "GET tunnels": list,
  "DELETE tunnels/:": { write: true, target: async (_r, ctx, arg, _u, who) => {
    const zones = adminZones(who);
    return owned(await tunnelOwner(ctx.store, arg, zones === "all" ? undefined : zones), `the tunnel ${arg}`);
  } },

  "GET admin-tokens": list,
  "POST admin-tokens": { write: true, target: async (req, _ctx, _a, _u, who) => {
    const zone = await zoneAskedFor(await peek(req), who);
    return zone === undefined ? EDGE : inZone(zone, `the zone ${zone}`);
  } },
  "DELETE admin-tokens/:": { write: true, target: async (_r, ctx, arg) => {
    const t = await getAdminToken(ctx.store, arg);
    return t ? { zone: t.zone, found: true, what: `the admin token "${arg}"`, arg: t.id } : { zone: undefined, found: false, what: `the admin token "${arg}"` };
  } },
};
