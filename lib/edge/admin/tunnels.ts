// Zone credentials and named tunnels: the admin's view (`wicket edge tunnel-cert`, `edge tunnel`)
// and what a zone credential itself may call (`wicket tunnel create|route|list|delete`).
import { formatZoneCredential } from "../../auth/zone-credential.ts";
import { log } from "../../cli/log.ts";
import { writeAudit, credentialOwner, revokeZoneCredential, tunnelsByCredential, rotateTunnelSecret, madeWith, listZoneCredentials, listTunnels, deleteTunnel, createTunnel, getTunnel, routeHostname, type ZoneCredential, createZoneCredential } from "../../store/index.ts";
import { BODY_LIMITS } from "../http/body.ts";
import { type AdminContext, HttpError, json, readBody, field, type Route, record } from "./common.ts";
import { adminName, visibleTo } from "./authz.ts";

/** For the audit: the tunnels a revoked credential made, disabled with it, and the hostnames they lost. */
const disabledWhat = (tunnels: { id: string; name: string; routes: string[] }[]) =>
  tunnels.length ? `; disabled the tunnels it made: ${tunnels.map((t) => `${t.name} (${t.id})${t.routes.length ? ` unrouting ${t.routes.join(", ")}` : ""}`).join(", ")}` : "";

export const tunnelRoutes: Record<string, Route> = {
  // each credential with the tunnels it made: what its revocation disables
  "GET tunnel-certs": async (_req, ctx, _arg, who) => {
    const made = await tunnelsByCredential(ctx.store);
    const tunnels = (id: string) => (made.get(id) ?? []).map((t) => ({ id: t.id, name: t.name, routes: t.routes, ...(t.disabled ? { disabled: t.disabled } : {}) }));
    return json(200, { credentials: (await listZoneCredentials(ctx.store)).filter((c) => visibleTo(who)(c.zone)).map((c) => ({ ...c, tunnels: tunnels(c.id) })) });
  },
  "DELETE tunnel-certs/:": async (_req, ctx, arg, who) => {
    const credential = await revokeZoneCredential(ctx.store, arg);
    await record(ctx, who, "tunnel-cert.revoke", `revoked zone credential ${credential.id} of ${credential.zone}${credential.obtainedBy ? ` (obtained by ${credential.obtainedBy})` : ""}${disabledWhat(credential.tunnels)}; its connectors are cut`, { target: credential.id });
    return json(200, { credential });
  },
  "GET tunnels": async (_req, ctx, _arg, who) => {
    const tunnels = (await listTunnels(ctx.store)).filter((t) => visibleTo(who)(t.zone)).map((t) => ({ ...t, connections: ctx.connectors?.count("tunnel", t.id) ?? 0 }));
    return json(200, { tunnels });
  },
  "DELETE tunnels/:": async (_req, ctx, arg, who) => {
    const tunnel = await deleteTunnel(ctx.store, arg);
    await record(ctx, who, "tunnel.delete", `deleted tunnel ${tunnel.name} (${tunnel.id}) of ${tunnel.zone}${tunnel.routes.length ? `, unrouting ${tunnel.routes.join(", ")}` : ""}; its connectors are cut`, { target: tunnel.id });
    return json(200, { tunnel });
  },
  "POST tunnel-certs": async (req, ctx, _arg, who) => {
    const { id, zone, secret } = await createZoneCredential(ctx.store, field(await readBody(req), "zone"), { obtainedBy: `admin:${adminName(who)}`, lifetimeMs: ctx.credentialLifetimeMs });
    await record(ctx, who, "tunnel-cert.create", `issued zone credential ${id} for ${zone}`, { target: id });
    const credential = formatZoneCredential({ edge: ctx.publicUrl, zone, id, secret, caPem: ctx.caPem });
    return json(201, { id, zone, credential });
  },
};

/** Routes a zone credential may call: the named tunnels of its own zone (`wicket tunnel
 * create|route|list|delete`). What they do is audited under the credential's name. */
export type ZoneRoute = (req: Request, ctx: AdminContext, arg: string, cred: ZoneCredential) => Promise<Response>;
export const credentialRoutes: Record<string, ZoneRoute> = {
  "GET zone-tunnels": async (_req, ctx, _arg, cred) => {
    return json(200, { tunnels: (await listTunnels(ctx.store, cred.zone)).map((t) => ({ ...t, connections: ctx.connectors?.count("tunnel", t.id) ?? 0 })) });
  },
  "POST zone-tunnels": async (req, ctx, _arg, cred) => {
    const { tunnel, secret } = await createTunnel(ctx.store, cred.zone, field(await readBody(req, BODY_LIMITS.form), "name"), credentialOwner(cred), madeWith(cred));
    await recordZone(ctx, cred, "tunnel.create", `created tunnel ${tunnel.name} (${tunnel.id}) in ${tunnel.zone}`, tunnel.id);
    return json(201, { tunnel, secret, edge: ctx.publicUrl, caPem: ctx.caPem });
  },
  "DELETE zone-tunnels/:": async (_req, ctx, arg, cred) => {
    const found = await getTunnel(ctx.store, arg, cred.zone);
    if (!found) throw new HttpError(404, `there is no tunnel "${arg}" in the zone ${cred.zone}; see "wicket tunnel list"`);
    ownTunnel(found, cred);
    // by the id just checked: a tunnel another owner makes under this name meanwhile is not it
    const tunnel = await deleteTunnel(ctx.store, found.id);
    await recordZone(ctx, cred, "tunnel.delete", `deleted tunnel ${tunnel.name} (${tunnel.id})${tunnel.routes.length ? `, unrouting ${tunnel.routes.join(", ")}` : ""}; its connectors are cut`, tunnel.id);
    return json(200, { tunnel });
  },
  // `tunnel token --rotate`: a new secret, made with (and not outliving) this credential
  "POST zone-tunnel-secrets/:": async (_req, ctx, arg, cred) => {
    const found = await getTunnel(ctx.store, arg, cred.zone);
    if (!found) throw new HttpError(404, `there is no tunnel "${arg}" in the zone ${cred.zone}; see "wicket tunnel list"`);
    ownTunnel(found, cred);
    const { tunnel, secret } = await rotateTunnelSecret(ctx.store, found.id, madeWith(cred));
    await recordZone(ctx, cred, "tunnel.rotate", `rotated the secret of tunnel ${tunnel.name} (${tunnel.id})${found.disabled ? ", which serves again" : ""}; connectors on the old secret are cut`, tunnel.id);
    return json(200, { tunnel, secret, edge: ctx.publicUrl, caPem: ctx.caPem });
  },
  "PUT zone-routes/:": async (req, ctx, arg, cred) => {
    const body = await readBody(req, BODY_LIMITS.form);
    const tunnel = await getTunnel(ctx.store, field(body, "tunnel"), cred.zone);
    if (!tunnel) throw new HttpError(404, `there is no tunnel "${body.tunnel}" in the zone ${cred.zone}; see "wicket tunnel list"`);
    ownTunnel(tunnel, cred);
    const r = await routeHostname(ctx.store, tunnel, arg, { overwrite: body.overwrite === true, owner: credentialOwner(cred) });
    const what = r.replaced ? `took ${r.hostname} over from tunnel ${r.replaced.name} (${r.replaced.id}) for` : `routed ${r.hostname} to`;
    await recordZone(ctx, cred, r.replaced ? "tunnel.route-overwrite" : "tunnel.route", `${what} tunnel ${tunnel.name} (${tunnel.id})`, r.hostname);
    return json(200, { route: r });
  },
};

/** A credential manages its owner's tunnels only; an admin manages any (`wicket edge tunnel rm`). */
export function ownTunnel(tunnel: { name: string; createdBy: string }, cred: ZoneCredential) {
  const owner = credentialOwner(cred);
  if (tunnel.createdBy !== owner) throw new HttpError(403, `the tunnel "${tunnel.name}" belongs to ${tunnel.createdBy}, not to ${owner}; ask them, or an admin (wicket edge tunnel rm)`);
}

export async function recordZone(ctx: AdminContext, cred: ZoneCredential, action: string, reason: string, target: string) {
  const who = `zone credential ${cred.id}${cred.obtainedBy ? ` of ${cred.obtainedBy}` : ""}`;
  log.info(`${who}: ${reason}`);
  await writeAudit(ctx.store, { kind: "admin", actor: who, identity: who, action, reason, target }).catch((e) => log.error(`audit: cannot record "${reason}": ${(e as Error).message}`));
}
