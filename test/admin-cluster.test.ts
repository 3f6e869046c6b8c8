// Admin tokens on two edge nodes sharing one PostgreSQL store, through the real CLI: a token
// made through node A works through node B at once, within its zone only and for reads only
// when read-only; revoked through A, node B refuses it on the next request.
// Runs where WICKET_TEST_POSTGRES_URL names a server.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { expectExit } from "./helpers/proc.ts";
import { PG, tempDatabase } from "./helpers/store.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, wicket, type TestEdge } from "./helpers/wicket.ts";

describe.skipIf(!PG)("admin tokens across two nodes", () => {
  let dirA: TempDir;
  let dirB: TempDir;
  let a: TestEdge;
  let b: TestEdge;
  let db: Awaited<ReturnType<typeof tempDatabase>>;

  /** `wicket edge <args>` through node B with this admin token (no data directory). */
  const onB = (token: string, args: string[]) => wicket(["edge", ...args, "--edge", b.url, "--ca-file", b.caFile, "--admin-token", token]);

  beforeAll(async () => {
    db = await tempDatabase();
    dirA = await tempDir("wicket-admin-a-");
    a = await startEdge({ dir: dirA, extra: ["--database", db.url] });
    dirB = await tempDir("wicket-admin-b-");
    mkdirSync(dirB.join("edge"), { recursive: true, mode: 0o700 });
    for (const f of ["ca.pem", "ca-key.pem", "admin-token"]) copyFileSync(join(a.dataDir, f), join(dirB.join("edge"), f));
    b = await startEdge({ dir: dirB, extra: ["--database", db.url] });
    for (const z of ["a.test", "b.test"]) await a.admin(["zone", "add", z]);
    for (const h of ["ssh.a.test", "ssh.b.test"]) await a.admin(["app", "add", h]);
  }, 60_000);

  afterAll(async () => {
    await b?.[Symbol.asyncDispose]();
    await a?.[Symbol.asyncDispose]();
    await db?.[Symbol.asyncDispose]();
    await dirA?.[Symbol.asyncDispose]();
    await dirB?.[Symbol.asyncDispose]();
  });

  test("a zone token made on A: its zone only, through B; refused outside it with the edge's sentence (77)", async () => {
    const made = JSON.parse(await a.admin(["admin-token", "create", "ci-a", "--zone", "a.test", "--json"])) as { token: string; zone: string };
    expect(made.zone).toBe("a.test");
    const apps = JSON.parse(expectExit(await onB(made.token, ["app", "list", "--json"])).stdout) as { hostname: string }[];
    expect(apps.map((x) => x.hostname)).toEqual(["ssh.a.test"]);
    expectExit(await onB(made.token, ["policy", "add", "ssh.a.test", "--name", "team", "--action", "allow", "--include", "domain:a.test"]));
    const outside = await onB(made.token, ["policy", "add", "ssh.b.test", "--name", "mine", "--action", "allow", "--include", "everyone"]);
    expect(outside.code).toBe(77);
    expect(outside.stderr).toContain(`the admin token "ci-a" administers the zone a.test, and the application ssh.b.test is not in them; ask an admin of its zone`);
    const wide = await onB(made.token, ["zone", "add", "c.test"]);
    expect(wide.code).toBe(77);
    expect(wide.stderr).toContain("only an edge admin may do this");
    // the audit names the token, through either node
    const audit = (await a.admin(["audit", "--user", "ci-a", "--json"])).trim().split("\n").map((l) => JSON.parse(l) as { actor: string; action: string; ip: string });
    expect(audit.filter((r) => r.actor === "ci-a")).toMatchObject([{ actor: "ci-a", action: "policy.add", ip: "127.0.0.1" }]);
  }, 30_000);

  test("a read-only token reads through B, and every write is refused (77)", async () => {
    const made = JSON.parse(await a.admin(["admin-token", "create", "ro-a", "--zone", "a.test", "--read-only", "--expires", "30d", "--json"])) as { token: string; expiresAt: number };
    expect(made.expiresAt - Date.now()).toBeGreaterThan(29 * 86_400_000);
    expectExit(await onB(made.token, ["policy", "list", "ssh.a.test"]));
    const write = await onB(made.token, ["app", "add", "new.a.test"]);
    expect(write.code).toBe(77);
    expect(write.stderr).toContain(`the admin token "ro-a" is read-only`);
  }, 30_000);

  test("revoked through A, refused by B on the next request; list shows the rest", async () => {
    const made = JSON.parse(await a.admin(["admin-token", "create", "doomed", "--json"])) as { token: string; id: string };
    expectExit(await onB(made.token, ["zone", "list"]));
    expect(await a.admin(["admin-token", "revoke", "doomed"])).toContain(`revoked admin token doomed (${made.id})`);
    const after = await onB(made.token, ["zone", "list"]);
    expect(after.code).toBe(77);
    expect(after.stderr).toContain("the admin token was refused");
    const list = await b.admin(["admin-token", "list"]);
    expect(list).toMatch(/^ID\s+NAME\s+ZONE\s+ACCESS\s+EXPIRES\s+CREATED$/m);
    expect(list).toMatch(/\sbootstrap\s+\(edge\)\s+read-write\s+never\s/);
    expect(list).toMatch(/\sro-a\s+a\.test\s+read-only\s+\d{4}-/);
    expect(list).not.toContain("doomed");
  }, 30_000);
});
