// Admin tokens for automation (`wicket edge admin-token`): named, edge-wide or of one zone,
// read-only or not, expiring or not; the secret is answered once and stored hashed.
// `revoke bootstrap` retires the token the edge made on its first start.
import { createAdminToken, listAdminTokens, revokeAdminToken, type AdminToken } from "../../store/index.ts";
import { HttpError, json, readBody, field, type Route, record } from "./common.ts";
import { zoneAskedFor } from "./access.ts";
import { visibleTo } from "./authz.ts";

const scopeWords = (t: AdminToken) => [t.zone ? `for the zone ${t.zone}` : "edge-wide", t.readOnly ? "read-only" : "", t.expiresAt ? `expiring ${new Date(t.expiresAt).toISOString()}` : ""].filter(Boolean).join(", ");

export const adminTokenRoutes: Record<string, Route> = {
  "GET admin-tokens": async (_req, ctx, _arg, who) => {
    const mine = visibleTo(who);
    return json(200, { tokens: (await listAdminTokens(ctx.store)).filter((t) => mine(t.zone)) });
  },
  "POST admin-tokens": async (req, ctx, _arg, who) => {
    const b = await readBody(req);
    // a token makes no tokens for a zone: that would outlive it (--expires) or outrank it (--read-only)
    if (who.kind === "token" && who.zone !== undefined) throw new HttpError(403, `the admin token "${who.name}" is a zone's and cannot make admin tokens; ask a person who administers the zone`);
    if (b.readOnly !== undefined && typeof b.readOnly !== "boolean") throw new HttpError(400, `"readOnly" must be true or false`);
    if (b.expiresAt !== undefined && b.expiresAt !== null && typeof b.expiresAt !== "number") throw new HttpError(400, `"expiresAt" must be a time in epoch milliseconds, or null for never`);
    const zone = await zoneAskedFor(b, who);
    const { token, ...t } = await createAdminToken(ctx.store, field(b, "name"), { zone, readOnly: b.readOnly === true, expiresAt: (b.expiresAt as number | null | undefined) ?? undefined });
    await record(ctx, who, "admin-token.create", `created admin token "${t.name}" (${t.id}), ${scopeWords(t)}`, { target: t.name, ...(t.zone ? { host: t.zone } : {}) });
    return json(201, { ...t, token });
  },
  "DELETE admin-tokens/:": async (_req, ctx, arg, who) => {
    const t = await revokeAdminToken(ctx.store, arg);
    await record(ctx, who, "admin-token.revoke", `revoked admin token "${t.name}" (${t.id}), ${scopeWords(t)}; it is refused from now on`, { target: t.name, ...(t.zone ? { host: t.zone } : {}) });
    return json(200, { token: t });
  },
};
