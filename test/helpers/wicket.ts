// The compiled wicket in tests: an edge on port 0 with its own data directory, admin calls
// through the real CLI, connectors, and the ProxyCommand line that reaches an application.
import { join } from "node:path";
import { bin } from "./bin.ts";
import { freePort } from "./ports.ts";
import { expectExit, run, spawnProc, type Env, type Proc, type RunResult } from "./proc.ts";
import { shellQuote } from "./sshd.ts";
import { tempDir, type TempDir } from "./tmp.ts";

export const WICKET = bin("wicket");

/** Runs `wicket <args>` to completion. */
export function wicket(args: string[], opts: { env?: Env; stdin?: string | Uint8Array; timeoutMs?: number } = {}): Promise<RunResult> {
  return run([WICKET, ...args], { timeoutMs: 30_000, ...opts, env: { WICKET_HOME: undefined, ...opts.env } });
}

export interface ServiceToken {
  id: string;
  secret: string;
  name: string;
}

export interface TestEdge extends AsyncDisposable {
  url: string;
  port: number;
  dataDir: string;
  caFile: string;
  proc: Proc;
  /** `wicket edge <args> --data-dir <dir>`, which must exit 0; returns stdout. */
  admin(args: string[]): Promise<string>;
  /** Zone (if new), application, a service token and an allow policy for it. */
  app(hostname: string, zone?: string): Promise<ServiceToken>;
  /** A zone credential file for `tunnel --origincert`. */
  tunnelCert(zone: string): Promise<string>;
  /** `wicket tunnel` for hostname -> origin, resolved once a connection is registered. */
  tunnel(hostname: string, origin: string, extra?: string[]): Promise<Proc>;
  /** `wicket access tcp` for hostname on a free local port of 127.0.0.1, resolved once it listens. */
  accessTcp(hostname: string, token: ServiceToken, extra?: string[]): Promise<{ port: number; proc: Proc }>;
  /** The ProxyCommand (ssh_config syntax) that reaches this edge with a service token. */
  proxyCommand(token?: ServiceToken, extra?: string[]): string;
  stop(): Promise<number>;
}

export async function startEdge(opts: { port?: number; dir?: TempDir; extra?: string[] } = {}): Promise<TestEdge> {
  const dir = opts.dir ?? (await tempDir("wicket-edge-"));
  const dataDir = dir.join("edge");
  const proc = spawnProc([WICKET, "edge", "serve", "--listen", `127.0.0.1:${opts.port ?? 0}`, "--data-dir", dataDir, ...(opts.extra ?? [])], { name: "edge" });
  const [, url, port] = await proc.waitForLine(/edge listening on \S+ \(public URL ((?:https?):\/\/127\.0\.0\.1:(\d+))\)/, { stream: "stderr", timeoutMs: 15_000 });
  const caFile = join(dataDir, "ca.pem");
  const zones = new Set<string>();
  const tunnels: Proc[] = []; // and `access tcp` listeners: everything stop() ends

  const admin = async (args: string[]) => expectExit(await wicket(["edge", ...args, "--data-dir", dataDir])).stdout;

  const edge: TestEdge = {
    url: url!,
    port: Number(port),
    dataDir,
    caFile,
    proc,
    admin,
    async app(hostname, zone = hostname.split(".").slice(1).join(".")) {
      if (!zones.has(zone)) {
        await admin(["zone", "add", zone]);
        zones.add(zone);
      }
      await admin(["app", "add", hostname]);
      const name = `t-${hostname.replace(/\W/g, "-")}-${crypto.randomUUID().slice(0, 6)}`;
      const token = JSON.parse(await admin(["token", "create", name, "--json"]));
      await admin(["policy", "add", hostname, "--name", `allow ${name}`, "--action", "allow", "--include", `token:${name}`]);
      return { id: token.id, secret: token.secret, name };
    },
    async tunnelCert(zone) {
      const file = dir.join(`cert-${zone}-${crypto.randomUUID().slice(0, 6)}.pem`);
      await admin(["tunnel-cert", zone, "--out", file]);
      return file;
    },
    async tunnel(hostname, origin, extra = []) {
      const zone = hostname.split(".").slice(1).join(".");
      const cert = await edge.tunnelCert(zone);
      const t = spawnProc([WICKET, "tunnel", "--hostname", hostname, "--url", origin, "--origincert", cert, ...extra], { name: `tunnel ${hostname}` });
      tunnels.push(t);
      await t.waitForLine(/connection \d+ registered/, { stream: "stderr", timeoutMs: 15_000 });
      return t;
    },
    async accessTcp(hostname, token, extra = []) {
      for (let attempt = 1; ; attempt++) {
        const port = freePort();
        const args = ["access", "tcp", "--hostname", hostname, "--url", `127.0.0.1:${port}`, "--edge", edge.url, "--ca-file", caFile, "--id", token.id, "--secret", token.secret];
        const p = spawnProc([WICKET, ...args, ...extra], { name: `access tcp ${hostname}` });
        try {
          await p.waitForLine(new RegExp(`listening on 127\\.0\\.0\\.1:${port} `), { stream: "stderr" });
          tunnels.push(p);
          return { port, proc: p };
        } catch (err) {
          await p.stop();
          // another process took the port between freePort() and the listen
          if (attempt < 5 && /cannot listen/.test(p.stderr())) continue;
          throw err;
        }
      }
    },
    proxyCommand(token, extra = []) {
      const args = [WICKET, "access", "ssh", "--hostname", "%h", "--edge", edge.url, "--ca-file", caFile];
      if (token) args.push("--id", token.id, "--secret", token.secret);
      return [...args, ...extra].map(shellQuote).join(" ");
    },
    async stop() {
      await Promise.all(tunnels.map((t) => t.stop()));
      return proc.stop();
    },
    async [Symbol.asyncDispose]() {
      await edge.stop();
      if (!opts.dir) await dir[Symbol.asyncDispose]();
    },
  };
  return edge;
}
