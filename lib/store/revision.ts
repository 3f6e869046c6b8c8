// The access revision: a counter that every change the other edge nodes must act on moves: one
// able to take access away (a policy added, edited, moved or removed; a service token, a user,
// a session or a signing key revoked; an application removed), a new signing key, a zone
// added or removed (its certificate), an application added or an ACME certificate stored
// (with --tls acme: its order, and every node serving the result). When it moves, each node reloads its signing keys and
// zone certificates and re-checks its live sessions. On PostgreSQL the move is also announced
// on ACCESS_CHANNEL, so the other nodes act at once; on SQLite (one node) they poll it.
import type { SQL } from "bun";
import type { BigIntColumn, Store } from "./open.ts";

/** The PostgreSQL NOTIFY channel that carries each new revision (the payload) to every node. */
export const ACCESS_CHANNEL = "wicket_access";

/** Moves the revision; call inside the transaction that made the change, when there is one. */
export async function bumpAccessRevision(sql: SQL): Promise<void> {
  if (sql.options.adapter === "postgres") {
    // In the change's own transaction, so the notification goes out on commit and not at all
    // on rollback: a node never re-checks before the change is visible to it.
    await sql`
      WITH moved AS (UPDATE access_revision SET revision = revision + 1 WHERE id = 1 RETURNING revision)
      SELECT pg_notify(${ACCESS_CHANNEL}, revision::text) FROM moved`;
    return;
  }
  await sql`UPDATE access_revision SET revision = revision + 1 WHERE id = 1`;
}

export async function accessRevision(store: Store): Promise<number> {
  const [row]: { revision: BigIntColumn }[] = await store.sql`SELECT revision FROM access_revision WHERE id = 1`;
  return row ? Number(row.revision) : 0;
}
