// Service tokens (`wicket edge token`): the secret is answered once and stored hashed.
import { createServiceToken, listServiceTokens, removeServiceToken, checkPrincipal, setTokenPrincipal, getZone, serviceTokenZones, setServiceTokenZone } from "../../store/index.ts";
import { HttpError, json, readBody, field, type Route, record } from "./common.ts";
import { zoneAskedFor } from "./access.ts";
import { visibleTo } from "./authz.ts";

export const tokenRoutes: Record<string, Route> = {
  "GET tokens": async (_req, ctx, _arg, who) => {
    const zones = await serviceTokenZones(ctx.store);
    const tokens = (await listServiceTokens(ctx.store)).map((t) => (zones.has(t.id) ? { ...t, zone: zones.get(t.id) } : t));
    return json(200, { tokens: tokens.filter((t) => visibleTo(who)(zones.get(t.id))) });
  },
  "POST tokens": async (req, ctx, _arg, who) => {
    const body = await readBody(req);
    if (body.principal !== undefined) checkPrincipal(String(body.principal)); // before the token exists
    // a zone admin's token is their zone's; an edge admin's is edge-wide unless they name a zone
    const asked = await zoneAskedFor(body, who);
    const zone = asked === undefined ? undefined : (await getZone(ctx.store, asked))?.name;
    if (asked !== undefined && !zone) throw new HttpError(404, `there is no zone "${asked}"; see "wicket edge zone list"`);
    const { secret, ...token } = await createServiceToken(ctx.store, field(body, "name"));
    if (zone) await setServiceTokenZone(ctx.store, token.id, zone);
    if (body.principal !== undefined) await setTokenPrincipal(ctx.store, token.id, String(body.principal));
    await record(ctx, who, "token.create", `created service token "${token.name}" (${token.id})${body.principal ? ` with SSH principal ${body.principal}` : ""}`, { target: token.name, tokenId: token.id, ...(zone ? { host: zone } : {}) });
    return json(201, { ...token, ...(zone ? { zone } : {}), secret });
  },
  "DELETE tokens/:": async (_req, ctx, arg, who) => {
    const token = await removeServiceToken(ctx.store, arg);
    // Cut this node's sessions of the token before answering, so that when the command
    // returns they are gone; other nodes see the access revision move.
    const cut = ctx.sessions?.cutToken(token.id, `service token "${token.name}" was revoked`) ?? [];
    await record(ctx, who, "token.revoke", `revoked service token "${token.name}" (${token.id}), closing ${cut.length} live session${cut.length === 1 ? "" : "s"}`, {
      target: token.name,
      tokenId: token.id,
    });
    return json(200, { token, sessionsClosed: cut.length });
  },

};
