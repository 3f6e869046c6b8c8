// Upgrades lose nothing: an edge data directory, a zone credential (cert.pem) and a service
// token written by the previous release (test/fixtures/release-0.1.0) work with this one. The
// store migrates at start; the old cert.pem, which has no expiry and no owner, still connects
// its server (the edge makes it a tunnel), and the old token still lets ssh in.
import { expect, test } from "bun:test";
import { chmodSync, cpSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { run, spawnProc } from "./helpers/proc.ts";
import { startSshd } from "./helpers/sshd.ts";
import { tempDir } from "./helpers/tmp.ts";
import { startEdge, WICKET } from "./helpers/wicket.ts";

const FIXTURE = new URL("./fixtures/release-0.1.0/", import.meta.url).pathname;

test("a data directory, cert.pem and service token from release 0.1.0 keep working", async () => {
  await using dir = await tempDir("wicket-upgrade-");
  cpSync(join(FIXTURE, "edge"), dir.join("edge"), { recursive: true });
  chmodSync(dir.join("edge"), 0o700);
  for (const f of ["wicket.db", "admin-token", "ca-key.pem"]) chmodSync(dir.join("edge", f), 0o600);
  const cert = dir.join("cert.pem");
  cpSync(join(FIXTURE, "cert.pem"), cert);
  chmodSync(cert, 0o600);
  const token = { ...(JSON.parse(readFileSync(join(FIXTURE, "token.json"), "utf8")) as { id: string; secret: string }), name: "ci" };

  await using edge = await startEdge({ dir });
  await using sshd = await startSshd();
  // the old credential names the old edge's address: --edge says where it is now
  await using connector = spawnProc([WICKET, "tunnel", "--hostname", "ssh.old.test", "--url", `ssh://127.0.0.1:${sshd.port}`, "--origincert", cert, "--edge", edge.url, "--ca-file", edge.caFile], { name: "old cert.pem" });
  await connector.waitForLine(/connection \d+ registered/, { stream: "stderr", timeoutMs: 15_000 });

  const client = await sshd.client("ssh.old.test", { proxyCommand: edge.proxyCommand(token) });
  const r = await run(["ssh", ...client.args, "ssh.old.test", "echo upgraded"]);
  expect([r.code, r.stdout]).toEqual([0, "upgraded\n"]);

  // the old credential is listed, with no expiry recorded, and is still revocable
  const creds = JSON.parse(await edge.admin(["tunnel-cert", "list", "--json"])) as { id: string; zone: string; expiresAt?: number; lastUsedAt?: number }[];
  expect(creds).toHaveLength(1);
  expect(creds[0]).toMatchObject({ zone: "old.test" });
  expect(creds[0]!.expiresAt).toBeUndefined();
  expect(creds[0]!.lastUsedAt).toBeNumber();
  const tunnels = JSON.parse(await edge.admin(["tunnel", "list", "--json"])) as { name: string; routes: string[] }[];
  expect(tunnels).toMatchObject([{ name: "ssh.old.test", routes: ["ssh.old.test"] }]);
});
