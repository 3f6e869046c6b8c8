// Opening the store: SQLite in the data directory by default, PostgreSQL by URL, one
// schema for both, migrated in a transaction at open.
import { SQL } from "bun";
import { closeSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { configError, WicketError } from "../cli/exit.ts";
import { DB_FILE } from "../paths.ts";
import { MIGRATIONS } from "./migrations.ts";

export type Store = {
  sql: SQL;
  adapter: "sqlite" | "postgres";
  /** Where the store lives, safe to print: a file path or a URL without its password. */
  location: string;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
};

export type StoreOptions = { dataDir: string } | { url: string };

// Any constant will do: it only has to be the same on every node of a cluster, so that
// two nodes starting at once migrate one after the other.
const MIGRATION_LOCK = 7_160_414_310;

function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}

function connect(opts: StoreOptions): { sql: SQL; adapter: Store["adapter"]; location: string } {
  if ("dataDir" in opts) {
    try {
      mkdirSync(opts.dataDir, { recursive: true, mode: 0o700 });
      const file = join(opts.dataDir, DB_FILE);
      // Create the file ourselves so it is 0600 from the first byte; SQLite gives its
      // -wal and -shm files the same mode as the database file.
      closeSync(openSync(file, "a", 0o600));
      return { sql: new SQL({ adapter: "sqlite", filename: file, create: true, readwrite: true }), adapter: "sqlite", location: file };
    } catch (e) {
      throw configError(`cannot open the store in ${opts.dataDir}: ${(e as Error).message}; check that the data directory is writable`);
    }
  }
  const url = opts.url;
  if (/^postgres(ql)?:\/\//i.test(url)) return { sql: new SQL(url), adapter: "postgres", location: redact(url) };
  if (/^(sqlite|file):/i.test(url)) return { sql: new SQL({ adapter: "sqlite", url, create: true, readwrite: true }), adapter: "sqlite", location: url };
  throw configError(`unsupported database URL "${redact(url)}"; use postgres://… or sqlite://…`);
}

async function migrate(store: Store) {
  // Issues add migrations in numbered ranges, so the list may be out of order: apply by version.
  const ordered = [...MIGRATIONS].sort((a, b) => a.version - b.version);
  const latest = ordered.at(-1)!.version;
  await store.sql.begin(async (tx) => {
    if (store.adapter === "postgres") await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    await tx.unsafe(`CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`);
    const rows: { version: number | string }[] = await tx`SELECT version FROM schema_migrations`;
    const have = new Set(rows.map((r) => Number(r.version)));
    const newest = Math.max(0, ...have);
    if (newest > latest) {
      throw configError(`the store at ${store.location} has schema version ${newest}, newer than this wicket knows (${latest}); upgrade wicket`);
    }
    for (const m of ordered) {
      if (have.has(m.version)) continue;
      for (const stmt of m.statements) await tx.unsafe(stmt);
      await tx`INSERT INTO schema_migrations (version, applied_at) VALUES (${m.version}, ${Date.now()})`;
    }
  });
}

/** Opens (creating and migrating as needed) the store: `<dataDir>/wicket.db`, or a database URL. */
export async function openStore(opts: StoreOptions): Promise<Store> {
  const { sql, adapter, location } = connect(opts);
  const close = () => sql.close();
  const store: Store = { sql, adapter, location, close, [Symbol.asyncDispose]: close };
  try {
    if (adapter === "sqlite") {
      // WAL lets readers run while the edge writes; foreign keys are off by default in SQLite.
      await sql.unsafe(`PRAGMA journal_mode = WAL`);
      await sql.unsafe(`PRAGMA busy_timeout = 5000`);
      await sql.unsafe(`PRAGMA foreign_keys = ON`);
    }
    await migrate(store);
  } catch (e) {
    await sql.close().catch(() => {});
    if (e instanceof WicketError) throw e;
    throw configError(`cannot open the store at ${location}: ${(e as Error).message}`);
  }
  return store;
}

/** Versions applied to this store, oldest first. */
export async function schemaVersions(store: Store): Promise<number[]> {
  const rows: { version: number | string }[] = await store.sql`SELECT version FROM schema_migrations ORDER BY version`;
  return rows.map((r) => Number(r.version));
}

/** A BIGINT column as the driver returns it: a number from SQLite, a string from PostgreSQL. */
export type BigIntColumn = number | string;

/** Epoch milliseconds from a BIGINT column. */
export const ms = (v: BigIntColumn): number => Number(v);
/** The largest LIMIT both SQLite and PostgreSQL take: "all the rest" after an OFFSET. */
export const ALL_ROWS = 2 ** 31 - 1;

export const msOrUndefined = (v: BigIntColumn | null | undefined): number | undefined => (v === null || v === undefined ? undefined : Number(v));

/** Whether an error is a unique-constraint violation, on either adapter. */
export function isUniqueViolation(e: unknown): boolean {
  const err = e as { code?: string; errno?: string | number };
  return (typeof err?.code === "string" && err.code.startsWith("SQLITE_CONSTRAINT_") && /UNIQUE|PRIMARYKEY/.test(err.code)) || err?.errno === "23505";
}
