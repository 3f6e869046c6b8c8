// Zones and their admins (`wicket edge zone`).
import { addZone, addZoneAdmins, listZoneAdmins, removeZoneAdmins, revokeZoneCredentialsGrantedBy, type Revoked, getZone, parseZoneAdmin, listZones, removeZone } from "../../store/index.ts";
import { HttpError, json, readBody, field, zonesChanged, revokedWhat, type Route, record, optStrings } from "./common.ts";
import { visibleTo } from "./authz.ts";

export const zoneRoutes: Record<string, Route> = {
  "GET zones": async (_req, ctx, _arg, who) => json(200, { zones: await Promise.all((await listZones(ctx.store)).filter((z) => visibleTo(who)(z.name)).map(async (z) => ({ ...z, admins: await listZoneAdmins(ctx.store, z.name) }))) }),
  "POST zones": async (req, ctx, _arg, who) => {
    const body = await readBody(req);
    if (body.admins !== undefined && (!Array.isArray(body.admins) || body.admins.some((a) => typeof a !== "string"))) throw new HttpError(400, `"admins" must be a list of strings`);
    const admins = ((body.admins as string[] | undefined) ?? []).map(parseZoneAdmin); // checked before the zone is made
    const { movedApps, unrouted, ...added } = await addZone(ctx.store, field(body, "name", "zone"));
    const zone = { ...added, admins: [] as string[] };
    if (admins.length) zone.admins = await addZoneAdmins(ctx.store, zone.name, admins);
    const took = [movedApps.length ? `; the applications ${movedApps.join(", ")} moved into it` : "", unrouted.length ? `; the parent zone's tunnels lost ${unrouted.join(", ")}` : ""].join("");
    await record(ctx, who, "zone.add", `added zone ${zone.name}${admins.length ? ` administered by ${admins.join(", ")}` : ""}${took}`, { target: zone.name });
    await zonesChanged(ctx);
    return json(201, { zone });
  },
  "PATCH zones/:": async (req, ctx, arg, who) => {
    const body = await readBody(req);
    const add = (optStrings(body, "addAdmins") ?? []).map(parseZoneAdmin);
    const remove = (optStrings(body, "removeAdmins") ?? []).map(parseZoneAdmin);
    if (add.length + remove.length === 0) throw new HttpError(400, `say what to change: "addAdmins" or "removeAdmins"`);
    const zone = await getZone(ctx.store, arg);
    if (!zone) throw new HttpError(404, `there is no zone "${arg}"`);
    // A rule removed, an email: rule as a group: rule, revokes the credentials of the zone that
    // came through it and that no remaining rule grants; the tunnels they made are disabled and
    // their connectors cut, as a revoked credential's are. A person another rule still lets in
    // keeps what they have.
    const revoked: Revoked = { credentials: [], tunnels: [], disabled: [], unrouted: [] };
    if (remove.length) {
      await removeZoneAdmins(ctx.store, zone.name, remove);
      for (const p of remove) {
        const r = await revokeZoneCredentialsGrantedBy(ctx.store, zone.name, p);
        for (const k of ["credentials", "tunnels", "disabled", "unrouted"] as const) revoked[k].push(...r[k]);
      }
    }
    const admins = add.length ? await addZoneAdmins(ctx.store, zone.name, add) : await listZoneAdmins(ctx.store, zone.name);
    const what = [add.length ? `added ${add.join(", ")}` : "", remove.length ? `removed ${remove.join(", ")}` : ""].filter(Boolean).join(" and ");
    await record(ctx, who, "zone.edit", `${what} as admins of zone ${zone.name}${revokedWhat(revoked)}`, { target: zone.name });
    return json(200, { zone: { ...zone, admins } });
  },
  "DELETE zones/:": async (_req, ctx, arg, who) => {
    const zone = await removeZone(ctx.store, arg);
    await record(ctx, who, "zone.remove", `removed zone ${zone.name}`, { target: zone.name });
    await zonesChanged(ctx);
    return json(200, { zone });
  },

};
