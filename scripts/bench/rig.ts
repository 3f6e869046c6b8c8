// Everything the bench measures against, started on 127.0.0.1 with the test helpers: one sshd
// that every SSH path ends at, a second sshd as the OpenSSH jump host, the TCP origins (sink,
// source, echo) in their own process, an edge, one connector per application, and a
// `wicket access tcp` listener.
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { spawnProc, type Proc } from "../../test/helpers/proc.ts";
import { startSshd, type Sshd } from "../../test/helpers/sshd.ts";
import { tempDir, type TempDir } from "../../test/helpers/tmp.ts";
import { startEdge, type ServiceToken, type TestEdge } from "../../test/helpers/wicket.ts";

export const ORIGIN_SCRIPT = join(import.meta.dir, "..", "..", "test", "helpers", "origin.ts");
export const SSH_HOST = "ssh.bench.test";
export const TCP_HOST = "tcp.bench.test";
/** One fast cipher for every SSH connection, the jump host's outer one included. */
export const CIPHER = "aes128-gcm@openssh.com";

export interface SshPath {
  name: "direct" | "jump" | "wicket";
  /** ssh's arguments up to the remote command. */
  args: string[];
}

export interface Rig extends AsyncDisposable {
  dir: TempDir;
  sshd: Sshd;
  jump: Sshd;
  edge: TestEdge;
  caPem: string;
  origin: { port: number; proc: Proc };
  sshToken: ServiceToken;
  tcpToken: ServiceToken;
  sshConnector: Proc;
  tcpConnector: Proc;
  accessTcp: { port: number; proc: Proc };
  ssh: Record<SshPath["name"], SshPath>;
}

export async function startRig(log: (msg: string) => void): Promise<Rig> {
  const cleanups: (() => PromiseLike<unknown>)[] = [];
  const dispose = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
  };
  try {
    const dir = await tempDir("wicket-bench-");
    cleanups.push(() => dir.remove());

    log("starting sshd, the jump host and the TCP origins");
    const [sshd, jump] = await Promise.all([startSshd({ config: ["MaxStartups 100"] }), startSshd()]);
    cleanups.push(() => sshd[Symbol.asyncDispose](), () => jump[Symbol.asyncDispose]());
    const originProc = spawnProc([process.execPath, ORIGIN_SCRIPT, "serve"], { name: "origin" });
    cleanups.push(() => originProc.stop());
    const [, originPort] = await originProc.waitForLine(/origin listening on 127\.0\.0\.1 port (\d+)/, { stream: "stdout" });

    log("starting the edge and the connectors");
    const edge = await startEdge({ dir });
    cleanups.push(() => edge.stop());
    const sshToken = await edge.app(SSH_HOST);
    const tcpToken = await edge.app(TCP_HOST);
    // One connection to the edge each, so that every stream of a connector shares one
    // multiplexed WebSocket: the worst case for fairness and for memory per stream.
    const one = ["--ha-connections", "1"];
    const [sshConnector, tcpConnector] = await Promise.all([
      edge.tunnel(SSH_HOST, `ssh://127.0.0.1:${sshd.port}`, one),
      edge.tunnel(TCP_HOST, `tcp://127.0.0.1:${originPort}`, one),
    ]);
    const accessTcp = await edge.accessTcp(TCP_HOST, tcpToken);

    const sshOptions = [`Ciphers ${CIPHER}`, "Compression no"];
    const direct = await sshd.client("direct.bench.test", { config: sshOptions });
    const viaWicket = await sshd.client(SSH_HOST, { proxyCommand: edge.proxyCommand(sshToken), config: sshOptions });
    // `ssh -J` passes -F on to the ssh it runs for the jump, so one file names both hosts.
    const jumped = await sshd.client("jumped.bench.test", { config: sshOptions });
    const jumpHost = await jump.client("jump.bench.test", { config: sshOptions });
    const jumpConfig = dir.join("ssh_config.jump");
    await writeFile(jumpConfig, (await readFile(jumped.configFile, "utf8")) + (await readFile(jumpHost.configFile, "utf8")));

    return {
      dir,
      sshd,
      jump,
      edge,
      caPem: await readFile(edge.caFile, "utf8"),
      origin: { port: Number(originPort), proc: originProc },
      sshToken,
      tcpToken,
      sshConnector,
      tcpConnector,
      accessTcp,
      ssh: {
        direct: { name: "direct", args: [...direct.args, direct.host] },
        jump: { name: "jump", args: ["-F", jumpConfig, "-J", jumpHost.host, jumped.host] },
        wicket: { name: "wicket", args: [...viaWicket.args, SSH_HOST] },
      },
      [Symbol.asyncDispose]: dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}
