import { expect, test } from "bun:test";
import { run } from "./helpers/proc.ts";
import { freePort } from "./helpers/ports.ts";
import { startSshd } from "./helpers/sshd.ts";
import { tempDir } from "./helpers/tmp.ts";
import { startEdge } from "./helpers/wicket.ts";

test("the connector reconnects by itself when the edge comes back on the same port", async () => {
  await using dir = await tempDir("wicket-reconnect-");
  await using sshd = await startSshd();
  const port = freePort();
  await using first = await startEdge({ dir, port });
  const token = await first.app("ssh.site.test");
  const tunnel = await first.tunnel("ssh.site.test", `ssh://127.0.0.1:${sshd.port}`, ["--ha-connections", "2"]);
  const c = await sshd.client("ssh.site.test", { proxyCommand: first.proxyCommand(token) });
  expect((await run(["ssh", ...c.args, "ssh.site.test", "echo before"])).stdout).toBe("before\n");

  expect(await first.proc.stop()).toBe(0); // SIGTERM: a clean stop
  // the edge's go-away may reach the connector before its connections drop, or not: either way
  // the connector is left without an edge
  await tunnel.waitForLine(/connection \d+ to \S+ lost|asked connection \d+ to move/, { stream: "stderr" });

  await using second = await startEdge({ dir, port });
  await tunnel.waitForLine(/connection \d+ registered/, { stream: "stderr", timeoutMs: 20_000 });
  const r = await run(["ssh", ...c.args, "ssh.site.test", "echo after"]);
  expect(r.stdout).toBe("after\n");
  expect(r.code).toBe(0);
  expect(await tunnel.stop()).toBe(0);
});
