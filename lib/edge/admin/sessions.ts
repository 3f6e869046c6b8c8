// Live sessions across the cluster and revoking them, or a person's sign-in (`wicket edge session`, `wicket edge user`).
import { listUserRevocations, revokeUser, revokeZoneCredentialsOf, auditedOpenSession, revokeSessionEverywhere, listZones, zoneFor, type Store } from "../../store/index.ts";
import type { NodeSession } from "../../admin-client/client.ts";
import { unbracket } from "../../net/address.ts";
import { clusterSessions } from "../cluster/sessions.ts";
import { HttpError, json, readBody, field, revokedWhat, type Route, type AdminContext, record } from "./common.ts";
import { adminName, isEdgeAdmin, visibleTo, type Admin } from "./authz.ts";

/** The sessions to hosts in the caller's zones. */
async function theirs<T extends { host: string }>(store: Store, who: Admin, sessions: T[]): Promise<T[]> {
  if (isEdgeAdmin(who)) return sessions;
  const zones = (await listZones(store)).map((z) => z.name);
  return sessions.filter((s) => visibleTo(who)(zoneFor(s.host, zones)));
}

const UNREACHABLE_FOR_ZONE_ADMINS = "did not answer; an edge admin sees why with wicket edge session list";

/** This node's live sessions, every zone's, each naming this node in a cluster. */
export const nodeSessions = (ctx: Pick<AdminContext, "sessions" | "node">): NodeSession[] => (ctx.sessions?.list() ?? []).map((s) => ({ ...s, node: ctx.node?.()?.id }));

export const sessionRoutes: Record<string, Route> = {
  // Every node's sessions: this node asks the others with the cluster secret, whoever the
  // caller is, and keeps those in the caller's zones. `scope=node`: this node's only.
  "GET sessions": async (_req, ctx, _arg, who, url) => {
    const node = ctx.node?.();
    if (!node || url.searchParams.get("scope") === "node") return json(200, { sessions: await theirs(ctx.store, who, nodeSessions(ctx)) });
    const all = await clusterSessions(ctx.store, node, nodeSessions(ctx), { caPem: ctx.caPem, servername: unbracket(new URL(ctx.publicUrl).hostname) });
    // where the nodes are is the edge admins' (GET nodes): a zone admin learns only that one is missing
    const unreachable = isEdgeAdmin(who) ? all.unreachable : all.unreachable.map((u) => ({ node: u.node, error: UNREACHABLE_FOR_ZONE_ADMINS }));
    return json(200, { sessions: await theirs(ctx.store, who, all.sessions), unreachable });
  },
  "DELETE sessions/:": async (_req, ctx, arg, who) => {
    const reason = `session ${arg} was revoked by an admin`;
    const s = ctx.sessions?.get(arg);
    if (s) {
      ctx.sessions!.cut(s.id, reason);
      await record(ctx, who, "session.revoke", `revoked session ${s.id} of ${s.identity} to ${s.host} from ${s.ip}`, { target: s.id, sessionId: s.id, host: s.host });
      return json(200, { session: s, elsewhere: false });
    }
    // Not here: another node of the cluster may hold it. The audit knows every session let in
    // and not ended; the node holding it cuts it once it sees the revocation in the store.
    const open = await auditedOpenSession(ctx.store, arg);
    if (!open) throw new HttpError(404, `there is no live session "${arg}": not on this edge node, and the audit shows none open by that id; see "wicket edge session list"`);
    await revokeSessionEverywhere(ctx.store, open.id, reason);
    await record(ctx, who, "session.revoke", `revoked session ${open.id} of ${open.identity} to ${open.host} from ${open.ip}, held by another node`, { target: open.id, sessionId: open.id, host: open.host });
    return json(202, { session: { ...open, bytesToOrigin: 0, bytesToClient: 0 }, elsewhere: true });
  },

  "GET user-revocations": async (_req, ctx) => json(200, { revocations: await listUserRevocations(ctx.store) }),
  "POST user-revocations": async (req, ctx, _arg, who) => {
    const revocation = await revokeUser(ctx.store, field(await readBody(req), "email"), adminName(who));
    const cut = ctx.sessions?.cutUser(revocation.email, `the sign-in of ${revocation.email} was revoked by an admin`) ?? [];
    const revoked = await revokeZoneCredentialsOf(ctx.store, revocation.email);
    await record(ctx, who, "user.revoke", `revoked the sign-in of ${revocation.email}, closing ${cut.length} live session${cut.length === 1 ? "" : "s"}${revokedWhat(revoked)}`, {
      target: revocation.email,
      email: revocation.email,
    });
    return json(200, { revocation, sessionsClosed: cut.length });
  },

};
