// `npm run demo`: the seed's flow on one machine, each step shown as the command a person
// would type. An edge on an embedded default (SQLite, self-signed TLS), a throwaway sshd on
// 127.0.0.1 with its own keys, a connector, a service token and a policy, then ssh through
// the tunnel. Everything it starts is stopped and its files removed at the end.
import { run } from "../test/helpers/proc.ts";
import { startSshd } from "../test/helpers/sshd.ts";
import { tempDir } from "../test/helpers/tmp.ts";
import { startEdge, WICKET } from "../test/helpers/wicket.ts";

const HOST = "ssh.site.test";
const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (n: number, title: string) => console.log(`\n${bold(`${n}. ${title}`)}`);
const show = (cmd: string) => console.log(`   $ ${cmd.replaceAll(WICKET, "wicket")}`);
const indent = (s: string) => s.trimEnd().replace(/^/gm, "     ");

async function main() {
  await using dir = await tempDir("wicket-demo-");

  step(1, "Start an edge (SQLite and a private CA in its data directory)");
  show(`wicket edge serve --listen 127.0.0.1:0 --data-dir ${dir.join("edge")}`);
  await using edge = await startEdge({ dir });
  console.log(indent(`edge at ${edge.url}; clients trust its CA with --ca-file ${edge.caFile}`));

  step(2, "Start a server with no inbound port for wicket: a throwaway sshd on 127.0.0.1");
  await using sshd = await startSshd();
  console.log(indent(`sshd on 127.0.0.1:${sshd.port}, its own host key and authorized_keys in ${sshd.dir}`));

  step(3, "Admin: a zone, the SSH application, a service token and a policy that allows it");
  for (const cmd of [`zone add site.test`, `app add ${HOST}`]) show(`wicket edge ${cmd}`);
  show(`wicket edge token create demo`);
  show(`wicket edge policy add ${HOST} --name demo --action allow --include token:demo`);
  const token = await edge.app(HOST, "site.test");
  console.log(indent(`service token id ${token.id} (the secret is shown once and stored only as a hash)`));

  step(4, "On the server: the connector dials out to the edge and claims the hostname");
  show(`wicket edge tunnel-cert site.test --out cert.pem`);
  show(`wicket tunnel --origincert cert.pem --hostname ${HOST} --url ssh://127.0.0.1:${sshd.port}`);
  const tunnel = await edge.tunnel(HOST, `ssh://127.0.0.1:${sshd.port}`);
  console.log(indent(tunnel.stderr().split("\n").filter((l) => l.includes("registered")).join("\n")));

  step(5, "On the laptop: the ssh_config stanza");
  show(`wicket access ssh-config --hostname ${HOST}`);
  const stanza = await run([WICKET, "access", "ssh-config", "--hostname", HOST]);
  console.log(indent(stanza.stdout.replaceAll(WICKET, "wicket")));

  step(6, "Plain ssh through the tunnel");
  const client = await sshd.client(HOST, { proxyCommand: edge.proxyCommand(token) });
  show(`ssh ${HOST} 'echo hello from $(hostname) as $(whoami) via wicket'`);
  const r = await run(["ssh", ...client.args, HOST, "echo hello from $(hostname) as $(whoami) via wicket"]);
  console.log(indent(r.stdout + r.stderr));
  if (r.code !== 0) throw new Error(`ssh through the tunnel failed with exit code ${r.code}`);

  step(7, "A wrong secret is refused at once, with exit code 77");
  show(`wicket access ssh --hostname ${HOST} --id ${token.id} --secret wrong`);
  const bad = await run([WICKET, "access", "ssh", "--hostname", HOST, "--edge", edge.url, "--ca-file", edge.caFile, "--id", token.id, "--secret", "wrong"]);
  console.log(indent(`${bad.stderr}exit code ${bad.code}`));

  step(8, "Clean up: connector, edge and sshd stop; the temporary files go");
}

try {
  await main();
  console.log("\ndone.");
} catch (err) {
  console.error(`\ndemo failed: ${(err as Error).message}`);
  process.exitCode = 1;
}
