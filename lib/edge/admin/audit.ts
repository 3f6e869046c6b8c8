// The audit trail and terminal recordings (`wicket edge audit`, `wicket edge recording`).
import { foldResumptions, queryAudit, getRecording, listRecordings } from "../../store/index.ts";
import { castResponse } from "../terminal/cast.ts";
import { HttpError, json, type Route } from "./common.ts";
import { type Admin, adminZones } from "./authz.ts";

/** The zones whose rows the caller sees, for the store's query (which filters before its
 * limit, so another zone's rows cannot fill it); undefined for an edge admin: every row. */
function zonesOf(who: Admin): string[] | undefined {
  const zones = adminZones(who);
  return zones === "all" ? undefined : zones;
}

function auditQuery(url: URL) {
  const p = url.searchParams;
  const num = (k: string) => {
    const v = p.get(k);
    if (v === null || v === "") return undefined;
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) throw new HttpError(400, `the query parameter "${k}" must be a whole number`);
    return n;
  };
  const kind = p.get("kind") || undefined;
  if (kind && kind !== "decision" && kind !== "session-end" && kind !== "admin") throw new HttpError(400, `"kind" must be decision, session-end or admin`);
  return {
    since: num("since"),
    after: p.get("after") || undefined,
    user: p.get("user") || undefined,
    host: p.get("host") || undefined,
    session: p.get("session") || undefined,
    denied: p.get("denied") === "1" || p.get("denied") === "true",
    kind: kind as "decision" | "session-end" | "admin" | undefined,
    limit: num("limit"),
  };
}


export const auditRoutes: Record<string, Route> = {
  "GET recordings": async (_req, ctx, _arg, who, url) => {
    const limit = url.searchParams.get("limit");
    const recordings = await listRecordings(ctx.store, { user: url.searchParams.get("user") || undefined, host: url.searchParams.get("host") || undefined, inZones: zonesOf(who), limit: limit ? Number(limit) : undefined });
    return json(200, { recordings });
  },
  // the asciicast itself, as text: `wicket edge recording export <id> > x.cast`
  "GET recordings/:": async (_req, ctx, arg) => {
    const rec = await getRecording(ctx.store, arg);
    if (!rec) throw new HttpError(404, `there is no recording "${arg}"; see "wicket edge recording list"`);
    return castResponse(ctx.store, rec.id, "text/plain; charset=utf-8");
  },
  // a resumed session reads once: its resumes are listed on the decision that started it
  // (`resumptions=apart`: each on its own, for a follower that has shown the start already)
  "GET audit": async (_req, ctx, _arg, who, url) => {
    const records = await queryAudit(ctx.store, { ...auditQuery(url), inZones: zonesOf(who) });
    return json(200, { records: url.searchParams.get("resumptions") === "apart" ? records : foldResumptions(records) });
  },
};
