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

/** A new, empty database on the PostgreSQL server, dropped when disposed. */
export async function tempDatabase(): Promise<{ url: string } & AsyncDisposable> {
  const db = `wicket_test_${crypto.randomUUID().replaceAll("-", "")}`;
  const admin = new SQL(PG!);
  await admin.unsafe(`CREATE DATABASE ${db}`);
  await admin.close();
  const url = new URL(PG!);
  url.pathname = `/${db}`;
  return {
    url: url.toString(),
    async [Symbol.asyncDispose]() {
      const admin = new SQL(PG!);
      await admin.unsafe(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await admin.close();
    },
  };
}

export async function withStore(backend: Backend, fn: (store: Store, dir: string) => Promise<void>) {
  await using dir = await tempDir();
  if (backend === "sqlite") {
    await using store = await openStore({ dataDir: dir.path });
    return await fn(store, dir.path);
  }
  await using db = await tempDatabase();
  await using store = await openStore({ url: db.url });
  await fn(store, dir.path);
}
