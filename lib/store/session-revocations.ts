// Live sessions revoked through any edge node. A session lives on the node its client reached;
// an admin may ask another node to cut it. That node writes the revocation here and moves the
// access revision; the node holding the session sees the revision move, re-checks its
// sessions and cuts this one, within about one poll interval.
import type { BigIntColumn, Store } from "./open.ts";
import { ms } from "./open.ts";
import { bumpAccessRevision } from "./revision.ts";

/** A session the audit shows let in and not yet ended, on whichever node. */
export type AuditedSession = { id: string; identity: string; host: string; ip: string; startedAt: number };

export async function auditedOpenSession(store: Store, id: string): Promise<AuditedSession | undefined> {
  const [row]: { session_id: string; identity: string | null; host: string | null; ip: string | null; at: BigIntColumn }[] = await store.sql`SELECT session_id, identity, host, ip, at FROM audit
    WHERE session_id = ${id} AND kind = 'decision' AND allowed = 1
      AND NOT EXISTS (SELECT 1 FROM audit e WHERE e.session_id = ${id} AND e.kind = 'session-end')`;
  return row ? { id: row.session_id, identity: row.identity ?? "", host: row.host ?? "", ip: row.ip ?? "", startedAt: ms(row.at) } : undefined;
}

export async function revokeSessionEverywhere(store: Store, id: string, reason: string): Promise<void> {
  await store.sql.begin(async (tx) => {
    await tx`INSERT INTO session_revocations (session_id, reason, revoked_at) VALUES (${id}, ${reason}, ${Date.now()}) ON CONFLICT (session_id) DO NOTHING`;
    await bumpAccessRevision(tx);
  });
}

/** Which of these sessions were revoked, and why. */
export async function revokedSessions(store: Store, ids: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  // in slices: SQLite binds at most 32,766 parameters, and a node may hold tens of thousands
  for (let i = 0; i < ids.length; i += 1000) {
    const rows: { session_id: string; reason: string }[] = await store.sql`SELECT session_id, reason FROM session_revocations WHERE session_id IN ${store.sql(ids.slice(i, i + 1000))}`;
    for (const r of rows) out.set(r.session_id, r.reason);
  }
  return out;
}
