// The access revision: a counter that every change able to take access away moves (a policy
// added, edited, moved or removed; a service token revoked; a user revoked; an application
// removed). Each edge node polls it and re-checks its live sessions when it moves, so a
// change made through any node reaches the sessions on every node.
import type { SQL } from "bun";
import type { Store } from "./open.ts";

/** Moves the revision; call inside the transaction that made the change, when there is one. */
export async function bumpAccessRevision(sql: SQL): Promise<void> {
  await sql`UPDATE access_revision SET revision = revision + 1 WHERE id = 1`;
}

export async function accessRevision(store: Store): Promise<number> {
  const [row] = await store.sql`SELECT revision FROM access_revision WHERE id = 1`;
  return row ? Number(row.revision) : 0;
}
