// Service tokens (`wicket edge token`): the secret is answered once and stored hashed.
import { createServiceToken, listServiceTokens, removeServiceToken, checkPrincipal, setTokenPrincipal } from "../../store/index.ts";
import { json, readBody, field, type Route, record } from "./common.ts";

export const tokenRoutes: Record<string, Route> = {
  "GET tokens": async (_req, ctx) => json(200, { tokens: await listServiceTokens(ctx.store) }),
  "POST tokens": async (req, ctx, _arg, who) => {
    const body = await readBody(req);
    if (body.principal !== undefined) checkPrincipal(String(body.principal)); // before the token exists
    const { secret, ...token } = await createServiceToken(ctx.store, field(body, "name"));
    if (body.principal !== undefined) await setTokenPrincipal(ctx.store, token.id, String(body.principal));
    await record(ctx, who, "token.create", `created service token "${token.name}" (${token.id})${body.principal ? ` with SSH principal ${body.principal}` : ""}`, { target: token.name, tokenId: token.id });
    return json(201, { ...token, secret });
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
