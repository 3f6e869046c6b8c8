// A `wicket tunnel` started by a test with any flags, its admin listener on a free port, and
// resolved once it has registered the connections asked for.
import { metricsUrl } from "./metrics.ts";
import { spawnProc, type Env, type Proc } from "./proc.ts";
import { WICKET, type TestEdge } from "./wicket.ts";

export interface Connector extends AsyncDisposable {
  proc: Proc;
  /** Base URL of its --metrics listener. */
  metrics: string;
  /** Waits for the next `n` "connection N registered" lines. */
  registered(n?: number, timeoutMs?: number): Promise<void>;
  /** Waits until every stream it has opened is logged closed (needs `--loglevel debug`). */
  streamsClosed(): Promise<void>;
}

const certs = new WeakMap<TestEdge, Map<string, Promise<string>>>();

/** One zone credential per edge and zone, shared by the connectors of a test file. */
export function zoneCert(edge: TestEdge, zone = "site.test"): Promise<string> {
  let m = certs.get(edge);
  if (!m) certs.set(edge, (m = new Map()));
  if (!m.has(zone)) m.set(zone, edge.tunnelCert(zone));
  return m.get(zone)!;
}

export async function startConnector(edge: TestEdge, args: string[], opts: { wait?: number; name?: string; env?: Env; zone?: string } = {}): Promise<Connector> {
  const cert = await zoneCert(edge, opts.zone);
  const proc = spawnProc([WICKET, "tunnel", "--origincert", cert, "--ca-file", edge.caFile, "--metrics", "127.0.0.1:0", ...args], { name: opts.name ?? "tunnel", env: opts.env });
  try {
    const metrics = await metricsUrl(proc);
    const registered = async (n = 1, timeoutMs = 15_000) => {
      for (let i = 0; i < n; i++) await proc.waitForLine(/connection \d+ registered/, { stream: "stderr", timeoutMs });
    };
    await registered(opts.wait ?? 0);
    const count = (re: RegExp) => proc.stderr().match(re)?.length ?? 0;
    const streamsClosed = async () => {
      // lines already read by other waits count too; each pass waits for one more close
      while (count(/^debug: stream \d+ closed: /gm) < count(/^debug: stream \d+ on connection /gm)) await proc.waitForLine(/stream \d+ closed: /, { stream: "stderr" });
    };
    return {
      proc,
      metrics,
      registered,
      streamsClosed,
      async [Symbol.asyncDispose]() {
        if (proc.exitCode === undefined) await proc.stop();
      },
    };
  } catch (err) {
    await proc.stop();
    throw err;
  }
}
