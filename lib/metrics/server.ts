// The admin listener of a long-running process (`tunnel --metrics`, `edge serve --metrics`):
// /metrics for Prometheus, /ready for load balancers and orchestrators, /healthz for liveness.
// Plain HTTP on its own address, meant for 127.0.0.1 or a private network.
import { configError } from "../cli/exit.ts";
import { log } from "../cli/log.ts";
import { parseHostPort } from "../cli/values.ts";
import { CONTENT_TYPE, type Registry } from "./registry.ts";

export interface Readiness {
  ready: boolean;
  [key: string]: unknown;
}

export interface MetricsServer {
  url: string;
  port: number;
  stop(): void;
}

export function serveMetrics(addr: string, registry: Registry, readiness: () => Readiness, flag = "--metrics"): MetricsServer {
  const { hostname, port } = parseHostPort(addr, flag);
  let server;
  try {
    server = Bun.serve({
      hostname,
      port,
      // scrapes are short; a stuck scraper must not hold a connection forever
      idleTimeout: 30,
      fetch(req) {
        const path = new URL(req.url).pathname;
        if (path === "/metrics") return new Response(registry.render(), { headers: { "content-type": CONTENT_TYPE } });
        if (path === "/ready") {
          const r = readiness();
          return Response.json(r, { status: r.ready ? 200 : 503 });
        }
        if (path === "/healthz") return new Response("ok\n");
        return new Response("not found: try /metrics, /ready or /healthz\n", { status: 404 });
      },
    });
  } catch (err) {
    throw configError(`cannot listen on ${flag} ${addr}: ${(err as Error).message}`);
  }
  const shown = hostname.includes(":") ? `[${hostname}]` : hostname;
  const url = `http://${shown}:${server.port}`;
  log.info(`metrics on ${url}/metrics, readiness on ${url}/ready`);
  return { url, port: server.port!, stop: () => server.stop(true) };
}
