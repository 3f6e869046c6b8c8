// A slow or stuck client must not grow the edge's memory without bound, nor hold up the
// other streams that share its connector connection. The client reaches the edge through
// the fault proxy, which slows its connection and then stalls it; its origin is a TCP
// server that writes as fast as it is let.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFile, readFile } from "node:fs/promises";
import { startConnector } from "./helpers/connector.ts";
import { startFaultProxy } from "./helpers/faultproxy.ts";
import { metricsUrl, scrape } from "./helpers/metrics.ts";
import { expectExit, run, spawnProc } from "./helpers/proc.ts";
import type { Sshd } from "./helpers/sshd.ts";
import type { TempDir } from "./helpers/tmp.ts";
import { startRig, type Rig } from "./helpers/rig.ts";
import { WICKET, type TestEdge } from "./helpers/wicket.ts";
import { INITIAL_WINDOW } from "../lib/wire/frame.ts";

const MiB = 1024 * 1024;
let dir: TempDir;
let sshd: Sshd;
let edge: TestEdge;
let rig: Rig;

beforeAll(async () => {
  rig = await startRig({ prefix: "wicket-backpressure-", edge: ["--metrics", "127.0.0.1:0"] });
  ({ dir, sshd, edge } = rig);
});

afterAll(() => rig?.[Symbol.asyncDispose]());

/** An origin that writes random bytes as fast as its socket takes them, and counts them. */
function startFirehose() {
  const chunk = new Uint8Array(64 * 1024);
  for (let o = 0; o < chunk.byteLength; o += 65536) crypto.getRandomValues(chunk.subarray(o, o + 65536));
  let sent = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  let open = true;
  const push = (s: import("bun").Socket) => {
    // a few chunks per turn of the event loop, so the test around it keeps running
    for (let i = 0; i < 16; i++) {
      const n = s.write(chunk);
      if (n > 0) sent += n;
      for (const w of waiters.filter((w) => sent >= w.n)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
      if (n < chunk.byteLength) return; // full: drain() calls again
    }
    setImmediate(() => open && push(s));
  };
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { open: push, drain: push, data() {} } });
  return {
    port: listener.port,
    get sent() {
      return sent;
    },
    reached: (n: number) => new Promise<void>((resolve) => (sent >= n ? resolve() : waiters.push({ n, resolve }))),
    stop: () => {
      open = false;
      listener.stop(true);
    },
  };
}

test("a slow, then stuck client holds at most a stream window in the edge and holds up no other stream", async () => {
  const em = await metricsUrl(edge.proc);
  const sshToken = await edge.app("ssh.site.test");
  const blastToken = await edge.app("blast.site.test");
  const firehose = startFirehose();
  const config = dir.join("tunnel.yaml");
  await writeFile(
    config,
    ["ha-connections: 1", "ingress:", "  - hostname: ssh.site.test", `    service: ssh://127.0.0.1:${sshd.port}`, "  - hostname: blast.site.test", `    service: tcp://127.0.0.1:${firehose.port}`, "  - service: refuse", ""].join("\n"),
  );
  // debug: the connector logs each stream's close, which the end waits for
  await using t = await startConnector(edge, ["--config", config, "--loglevel", "debug"], { wait: 1 });
  const client = await sshd.client("ssh.site.test", { proxyCommand: edge.proxyCommand(sshToken) });
  expect((await run(["ssh", ...client.args, "ssh.site.test", "echo warm"])).stdout).toBe("warm\n");
  const baseline = await scrape(em);

  // the slow client: 64 KiB/s from the edge to it
  await using proxy = await startFaultProxy({ port: edge.port });
  const blast = spawnProc([WICKET, "access", "ssh", "--hostname", "blast.site.test", "--edge", proxy.url, "--ca-file", edge.caFile, "--id", blastToken.id, "--secret", blastToken.secret], { stdin: "pipe", name: "slow client" });
  const [conn] = await proxy.waitForConnections(1);
  conn!.slow(64 * 1024);
  await firehose.reached(INITIAL_WINDOW);

  // the other stream on the same connector connection: a session and 8 MiB each way
  const src = dir.join("eight.bin");
  const buf = new Uint8Array(8 * MiB);
  for (let o = 0; o < buf.byteLength; o += 65536) crypto.getRandomValues(buf.subarray(o, o + 65536));
  await writeFile(src, buf);
  expect((await run(["ssh", ...client.args, "ssh.site.test", "echo beside"])).stdout).toBe("beside\n");
  expectExit(await run(["scp", "-q", ...client.args, src, `ssh.site.test:${sshd.dir}/eight.bin`], { timeoutMs: 60_000 }));
  expectExit(await run(["scp", "-q", ...client.args, `ssh.site.test:${sshd.dir}/eight.bin`, dir.join("back.bin")], { timeoutMs: 60_000 }));
  expect(Buffer.compare(await readFile(dir.join("back.bin")), buf)).toBe(0);

  const during = await scrape(em);
  const queued = during.get("wicket_edge_client_queued_bytes");
  const grew = during.get("process_resident_memory_bytes") - baseline.get("process_resident_memory_bytes");
  console.error(`slow client: the origin got ${(firehose.sent / MiB).toFixed(1)} MiB out, the client read ${(conn!.bytesDown / MiB).toFixed(1)} MiB, the edge holds ${(queued / MiB).toFixed(2)} MiB for it, its RSS grew ${(grew / MiB).toFixed(1)} MiB`);
  // the edge holds no more than the stream's window (plus the socket buffer it keeps small)
  expect(queued).toBeLessThanOrEqual(INITIAL_WINDOW + 512 * 1024);
  expect(grew).toBeLessThan(64 * MiB);
  // and the origin was held back: what left it is the window plus kernel socket buffers, not
  // the gigabytes a loopback link carries in these seconds
  expect(firehose.sent).toBeLessThan(64 * MiB);

  // stuck: nothing reaches the client any more, not even pings; the edge drops it on its keepalive
  conn!.stall();
  await edge.proc.waitForLine(/client token:\S+ from \S+ for blast\.site\.test sent nothing for [\d.]+ s; dropping it and its stream/, { stream: "stderr", timeoutMs: 15_000 });
  await edge.proc.waitForLine(/session \S+ of token:\S+ to blast\.site\.test ended after/, { stream: "stderr" });
  const after = await scrape(em);
  expect(after.get("wicket_edge_streams_open")).toBe(0);
  expect(after.get("wicket_edge_client_keepalive_timeouts_total")).toBe(1);
  expect(after.get("wicket_edge_client_queued_bytes")).toBe(0);
  await t.streamsClosed();
  expect((await scrape(t.metrics)).get("wicket_tunnel_streams_open")).toBe(0);
  blast.kill("SIGKILL");
  await blast.exited;
  firehose.stop();
}, 120_000);
