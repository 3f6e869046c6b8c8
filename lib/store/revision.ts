// The access revision: a counter that every change the other edge nodes must act on moves: one
// able to take access away (a policy added, edited, moved or removed; a service token, a user,
// a session or a signing key revoked; an application removed), a new signing key, a zone
// added or removed (its certificate). Each node polls it; when it moves, the node reloads its
// signing keys and zone certificates and re-checks its live sessions, so a change made
// through any node reaches every node within about one poll.
import type { SQL } from "bun";
import type { BigIntColumn, Store } from "./open.ts";

/** Moves the revision; call inside the transaction that made the change, when there is one. */
export async function bumpAccessRevision(sql: SQL): Promise<void> {
  await sql`UPDATE access_revision SET revision = revision + 1 WHERE id = 1`;
}

export async function accessRevision(store: Store): Promise<number> {
  const [row]: { revision: BigIntColumn }[] = await store.sql`SELECT revision FROM access_revision WHERE id = 1`;
  return row ? Number(row.revision) : 0;
}
