// A fresh store for a test: SQLite in a temporary directory, or a new database on the
// PostgreSQL server that WICKET_TEST_POSTGRES_URL names (the tests may create and drop
// databases there), so the cluster's store runs the same tests.
import { SQL } from "bun";
import { openStore, type Store } from "../../lib/store/index.ts";
import { tempDir } from "./tmp.ts";

export type Backend = "sqlite" | "postgres";
export const PG = process.env.WICKET_TEST_POSTGRES_URL;
/** SQLite always; PostgreSQL too when a server is given. */
export const BACKENDS: Backend[] = PG ? ["sqlite", "postgres"] : ["sqlite"];

export async function withStore(backend: Backend, fn: (store: Store, dir: string) => Promise<void>) {
  await using dir = await tempDir();
  if (backend === "sqlite") {
    await using store = await openStore({ dataDir: dir.path });
    return await fn(store, dir.path);
  }
  const admin = new SQL(PG!);
  const db = `wicket_test_${crypto.randomUUID().replaceAll("-", "")}`;
  await admin.unsafe(`CREATE DATABASE ${db}`);
  try {
    const url = new URL(PG!);
    url.pathname = `/${db}`;
    await using store = await openStore({ url: url.toString() });
    await fn(store, dir.path);
  } finally {
    await admin.unsafe(`DROP DATABASE ${db} WITH (FORCE)`);
    await admin.close();
  }
}
