// The README's quick start, run as written: every `sh` block of its "Quick start", line by
// line, in a fresh directory and HOME, with the compiled wicket on PATH, against a real sshd.
// The only changes are the placeholders a reader fills in: the edge's address (a free port of
// 127.0.0.1 instead of edge.site.com:8443), sshd's port instead of 22, the service token the
// step before printed instead of `…`, and this machine's user and a harmless command instead of
// `deploy@… ./deploy.sh` (with the ssh_config that pins the test sshd's host key). A line
// ending in `&` is started and owned by the test, which waits for the line that says it is up.
// One line is not run: `ssh jdoe@ssh.site.com`, the laptop's first connection, which opens a
// browser for single sign-on (test/signin.test.ts drives that sign-in in Chromium).
import { expect, test } from "bun:test";
import { mkdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { freePort } from "./helpers/ports.ts";
import { run, spawnProc, type Proc } from "./helpers/proc.ts";
import { currentUser, shellQuote, startSshd } from "./helpers/sshd.ts";
import { tempDir } from "./helpers/tmp.ts";
import { WICKET } from "./helpers/wicket.ts";

const ROOT = join(import.meta.dir, "..");
const NOT_RUN = new Set(["ssh jdoe@ssh.site.com"]);
/** What a background line prints once it is up. */
const READY: [RegExp, RegExp][] = [
  [/^wicket edge serve /, /edge listening on /],
  [/^wicket tunnel /, /connection \d+ registered/],
];

/** The `sh` blocks of the README's "Quick start" section, in order. */
export function quickStartBlocks(readme: string): string[] {
  const start = readme.indexOf("\n## Quick start\n");
  if (start < 0) throw new Error('README.md has no "## Quick start" section');
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

test("the README's quick start, copied as written, reaches an ssh session through a fresh edge", async () => {
  const blocks = quickStartBlocks(readFileSync(join(ROOT, "README.md"), "utf8"));
  expect(blocks.length).toBe(5);

  await using dir = await tempDir("wicket-readme-");
  await using sshd = await startSshd();
  // the test sshd's key and pinned host key; the README's own -o ProxyCommand comes first, and wins
  const client = await sshd.client("ssh.site.com", { proxyCommand: "wicket access ssh --hostname %h" });
  const home = dir.join("home");
  mkdirSync(join(home, ".ssh"), { recursive: true });
  const port = freePort();
  const envFile = dir.join("env.sh");
  const env = { HOME: home, WICKET_HOME: undefined, PATH: `${dirname(WICKET)}:${process.env.PATH}` };
  const fill = (line: string, token: Record<string, string>) =>
    line
      .replaceAll("0.0.0.0:8443", `127.0.0.1:${port}`)
      .replaceAll("edge.site.com:8443", `127.0.0.1:${port}`)
      .replaceAll("ssh://localhost:22", `ssh://127.0.0.1:${sshd.port}`)
      .replace("WICKET_SERVICE_TOKEN_ID=…", `WICKET_SERVICE_TOKEN_ID=${token.id}`)
      .replace("WICKET_SERVICE_TOKEN_SECRET=…", `WICKET_SERVICE_TOKEN_SECRET=${token.secret}`)
      .replace(/^ssh -o /, `ssh ${client.args.map(shellQuote).join(" ")} -o `)
      .replace("deploy@ssh.site.com ./deploy.sh", `${currentUser()}@ssh.site.com 'echo "quick start reached $(whoami)"'`);

  const token: Record<string, string> = {};
  const owned: Proc[] = [];
  let lastOut = "";
  try {
  for (const block of blocks) {
    for (const raw of block.split("\n").map((l) => l.trim()).filter((l) => l && !l.startsWith("#"))) {
      if (NOT_RUN.has(raw)) continue;
      const line = fill(raw, token);
      const script = `set -eo pipefail\n[ -f ${envFile} ] && . ${envFile}\n`;
      if (line.endsWith("&")) {
        const ready = READY.find(([cmd]) => cmd.test(line))?.[1];
        if (!ready) throw new Error(`the quick start starts "${line}" in the background, and this test does not know what it prints once it is up`);
        const p = spawnProc(["bash", "-c", `${script}exec ${line.slice(0, -1).trim()}`], { cwd: dir.path, env, name: line.split(" ").slice(0, 2).join(" ") });
        owned.push(p);
        await p.waitForLine(ready, { stream: "stderr", timeoutMs: 20_000 });
        continue;
      }
      const r = await run(["bash", "-c", `${script}${line}\nexport -p > ${envFile}`], { cwd: dir.path, env, timeoutMs: 30_000 });
      const why = r.code === 0 ? "" : `${r.stderr}\n${owned.map((p) => p.output()).join("\n")}`;
      expect({ line: raw, code: r.code, why }).toEqual({ line: raw, code: 0, why: "" });
      lastOut = r.stdout;
      const id = /^id:\s+(\S+)/m.exec(r.stdout)?.[1];
      const secret = /^secret:\s+(\S+)/m.exec(r.stdout)?.[1];
      if (id && secret) Object.assign(token, { id, secret });
    }
  }
  } finally {
    for (const p of owned.reverse()) await p.stop();
  }
  expect(lastOut.trim()).toBe(`quick start reached ${currentUser()}`);
  expect(readFileSync(join(home, ".ssh", "config"), "utf8")).toContain("ProxyCommand");
}, 120_000);
