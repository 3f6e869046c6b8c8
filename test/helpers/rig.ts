// The set-up most end-to-end tests start from: a temporary directory, a real sshd and an edge
// whose data lives in that directory; with `app`, an SSH application on the edge, its service
// token, the ssh client that reaches it through `wicket access ssh`, and (unless `tunnel:
// false`) a connector from the edge to the sshd. Disposing of it stops the edge with its
// connectors, then sshd, then removes the directory.
//
//   await using rig = await startRig({ app: "ssh.site.test" });
//   await rig.sshd.ssh(["true"], { proxyCommand: rig.edge.proxyCommand(rig.token) });
import type { Proc } from "./proc.ts";
import { startSshd, type Sshd, type SshClient, type SshdOptions } from "./sshd.ts";
import { tempDir, type TempDir } from "./tmp.ts";
import { startEdge, type ServiceToken, type TestEdge } from "./wicket.ts";

export interface RigOptions {
  /** Prefix of the temporary directory's name. */
  prefix?: string;
  sshd?: SshdOptions;
  /** More `wicket edge serve` arguments. */
  edge?: string[];
  /** Hostname of an SSH application to add, with a service token allowed in. */
  app?: string;
  /** With `app`: a connector from it to the sshd (default true). */
  tunnel?: boolean;
}

export interface Rig extends AsyncDisposable {
  dir: TempDir;
  sshd: Sshd;
  edge: TestEdge;
}

export interface AppRig extends Rig {
  host: string;
  token: ServiceToken;
  /** The ssh_config that reaches `host` through the edge with `token`. */
  client: SshClient;
  /** The connector to the sshd; undefined with `tunnel: false`. */
  tunnel: Proc | undefined;
}

export async function startRig(opts: RigOptions & { app: string }): Promise<AppRig>;
export async function startRig(opts?: RigOptions): Promise<Rig>;
export async function startRig(opts: RigOptions = {}): Promise<Rig | AppRig> {
  // disposed in reverse: edge, sshd, directory
  const stack = new AsyncDisposableStack();
  try {
    const dir = stack.use(await tempDir(opts.prefix));
    const sshd = stack.use(await startSshd(opts.sshd));
    const edge = stack.use(await startEdge({ dir, extra: opts.edge }));
    const rig: Rig = { dir, sshd, edge, [Symbol.asyncDispose]: () => stack.disposeAsync() };
    if (!opts.app) return rig;
    const host = opts.app;
    const token = await edge.app(host);
    const tunnel = opts.tunnel === false ? undefined : await edge.tunnel(host, `ssh://127.0.0.1:${sshd.port}`);
    const client = await sshd.client(host, { proxyCommand: edge.proxyCommand(token) });
    return { ...rig, host, token, client, tunnel };
  } catch (err) {
    await stack.disposeAsync();
    throw err;
  }
}
