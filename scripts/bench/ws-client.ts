// Bun's WebSocket client against the `ws` package, as `access ssh` (lib/access/dial.ts) and the
// connector use a client: send 64 KiB messages, stop above CLIENT_HIGH_WATER, go on once the
// buffer went down. Each client runs in a process of its own, so its CPU time is its own; the
// server is a Bun.serve in this process that checks every byte. Not run by the tests.
//
//   bun scripts/bench/ws-client.ts [--mib 512] [--runs 3] [--tls] [--ws node_modules/ws]
//
// Clients: "bun" is the global WebSocket, polled every millisecond while full (as bridge()'s
// room() does); "ws" is the npm package, waiting on its send callback (the socket's drain);
// "ws-in-bun" is what `import "ws"` gives under Bun and in a compiled binary: Bun's own
// ws-compatible wrapper around its client, not the npm package. "ws" needs the package, e.g.
// `bun add --no-save ws`; it is loaded by path, since Bun maps the bare name to its wrapper.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { issueCert, loadOrCreateCA } from "../../lib/tls/ca.ts";
import { CLIENT_HIGH_WATER } from "../../lib/wire/client.ts";
import { MiB, mibPerSec, summarize } from "./stats.ts";

const CHUNK = 64 * 1024;
const PATTERN = MiB; // a multiple of CHUNK: message k is pattern[(k * CHUNK) % PATTERN, +CHUNK]

type Kind = "bun" | "ws" | "ws-in-bun";
type ClientArgs = { kind: Kind; url: string; bytes: number; pattern: string; ca?: string; wsPath?: string };
type ClientResult = { ms: number; cpuMs: number };

// ---- the client process -----------------------------------------------------------------

async function bunClient(a: ClientArgs, chunks: Uint8Array[]): Promise<ClientResult> {
  const ws = new WebSocket(a.url, { tls: a.ca ? { ca: a.ca } : undefined } as any);
  ws.binaryType = "nodebuffer";
  const done = new Promise<void>((ok, fail) => {
    ws.onmessage = (ev) => (ev.data === "done" ? ok() : fail(new Error(String(ev.data))));
    ws.onclose = (ev) => fail(new Error(`closed ${ev.code} ${ev.reason}`));
  });
  await new Promise<void>((ok, fail) => {
    ws.onopen = () => ok();
    ws.onerror = (ev) => fail(new Error((ev as ErrorEvent).message));
  });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let sent = 0, k = 0; sent < a.bytes; sent += CHUNK, k++) {
    ws.send(chunks[k % chunks.length]!);
    while (ws.bufferedAmount > CLIENT_HIGH_WATER && ws.readyState === WebSocket.OPEN) await Bun.sleep(1);
  }
  await done;
  const cpu = process.cpuUsage(cpu0);
  const ms = performance.now() - t0;
  ws.close(1000);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

/** Bun's own `ws` module (not the npm package), named through a variable so that tsc, which
 * knows no "ws" types here, does not look for it. */
const BUN_WS: string = "ws";

/** The npm package's API (also Bun's wrapper's): EventEmitter, send with a callback. */
async function wsApiClient(a: ClientArgs, chunks: Uint8Array[]): Promise<ClientResult> {
  const WS = a.kind === "ws" ? (await import(join(a.wsPath!, "index.js"))).default : (await import(BUN_WS)).default;
  const ws = new WS(a.url, { perMessageDeflate: false, ...(a.ca ? { ca: a.ca } : {}) });
  const done = new Promise<void>((ok, fail) => {
    ws.on("message", (data: unknown, binary: boolean) => (!binary && String(data) === "done" ? ok() : fail(new Error(String(data)))));
    ws.on("close", (code: number, reason: unknown) => fail(new Error(`closed ${code} ${reason}`)));
  });
  await new Promise<void>((ok, fail) => {
    ws.once("open", ok);
    ws.once("error", fail);
  });
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  for (let sent = 0, k = 0; sent < a.bytes; sent += CHUNK, k++) {
    if (ws.bufferedAmount <= CLIENT_HIGH_WATER) {
      ws.send(chunks[k % chunks.length]!, { binary: true });
      continue;
    }
    // Full: the callback of this send fires once it (and all before it) went to the socket.
    await new Promise<void>((ok, fail) => ws.send(chunks[k % chunks.length]!, { binary: true }, (err?: Error) => (err ? fail(err) : ok())));
  }
  await done;
  const cpu = process.cpuUsage(cpu0);
  const ms = performance.now() - t0;
  ws.close(1000);
  return { ms, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function client(a: ClientArgs) {
  const pattern = readFileSync(a.pattern);
  const chunks = Array.from({ length: PATTERN / CHUNK }, (_, i) => new Uint8Array(pattern.subarray(i * CHUNK, (i + 1) * CHUNK)));
  const r = a.kind === "bun" ? await bunClient(a, chunks) : await wsApiClient(a, chunks);
  process.stdout.write(JSON.stringify(r) + "\n");
  process.exit(0);
}

// ---- the server and the runs ------------------------------------------------------------

type Conn = { received: number; messages: number; bad?: string };

function server(bytes: number, pattern: Buffer, tls?: { cert: string; key: string }) {
  return Bun.serve<Conn>({
    port: 0,
    hostname: "127.0.0.1",
    tls,
    fetch: (req, srv) => (srv.upgrade(req, { data: { received: 0, messages: 0 } }) ? undefined : new Response("upgrade\n", { status: 400 })),
    websocket: {
      maxPayloadLength: 1 * MiB,
      message(ws, msg) {
        const c = ws.data;
        const b = msg as Buffer;
        const at = (c.messages * CHUNK) % PATTERN;
        if (!c.bad && (b.length !== CHUNK || !b.equals(pattern.subarray(at, at + CHUNK)))) c.bad = `message ${c.messages}: ${b.length} bytes, not the ones sent`;
        c.messages++;
        c.received += b.length;
        if (c.received >= bytes) ws.send(c.bad ?? (c.received === bytes ? "done" : `${c.received} bytes, not ${bytes}`));
      },
    },
  });
}

async function main() {
  const { values } = parseArgs({
    options: {
      mib: { type: "string", default: "512" },
      runs: { type: "string", default: "3" },
      tls: { type: "boolean", default: false },
      ws: { type: "string", default: "node_modules/ws" },
      client: { type: "string" },
      url: { type: "string" },
      pattern: { type: "string" },
      ca: { type: "string" },
    },
  });
  const bytes = Number(values.mib) * MiB;
  const wsPath = resolve(values.ws!);
  if (values.client) {
    return client({ kind: values.client as Kind, url: values.url!, bytes, pattern: values.pattern!, ca: values.ca && readFileSync(values.ca, "utf8"), wsPath });
  }

  const dir = mkdtempSync(join(tmpdir(), "wicket-ws-bench-"));
  try {
    const pattern = Buffer.from(crypto.getRandomValues(new Uint8Array(PATTERN)));
    const patternFile = join(dir, "pattern");
    writeFileSync(patternFile, pattern);
    let tls: { cert: string; key: string } | undefined;
    const extra: string[] = [];
    if (values.tls) {
      const ca = await loadOrCreateCA(dir);
      tls = await issueCert(ca, ["127.0.0.1"]);
      extra.push("--ca", join(dir, "ca.pem"));
    }
    using srv = server(bytes, pattern, tls);
    const url = `${tls ? "wss" : "ws"}://127.0.0.1:${srv.port}/`;
    const kinds: Kind[] = existsSync(join(wsPath, "index.js")) ? ["bun", "ws", "ws-in-bun"] : ["bun", "ws-in-bun"];
    if (!kinds.includes("ws")) console.error(`no ws package at ${wsPath}: only Bun's clients (bun add --no-save ws, or pass --ws DIR)`);

    const results = new Map<Kind, { mibs: number[]; cpuMs: number[]; processCpuMs: number[]; failed: string[] }>(kinds.map((k) => [k, { mibs: [], cpuMs: [], processCpuMs: [], failed: [] }]));
    // In turns (bun ws ws-in-bun, bun ws ws-in-bun, …): whatever else the machine does weighs on all alike.
    for (let i = 0; i < Number(values.runs); i++) {
      for (const kind of kinds) {
        const proc = Bun.spawn([process.execPath, import.meta.path, "--client", kind, "--url", url, "--mib", values.mib!, "--pattern", patternFile, "--ws", wsPath, ...extra], { stdout: "pipe", stderr: "pipe" });
        const [out, err, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
        const r = results.get(kind)!;
        if (code !== 0) {
          r.failed.push(`exit ${code}: ${err.trim().split("\n").slice(-3).join(" | ")}`);
          continue;
        }
        const { ms, cpuMs } = JSON.parse(out) as ClientResult;
        r.mibs.push(mibPerSec(bytes, ms));
        r.cpuMs.push(cpuMs);
        // All of the process, start-up and every thread included (µs).
        r.processCpuMs.push(Number(proc.resourceUsage()?.cpuTime.total ?? NaN) / 1000);
      }
    }

    console.log(`${values.mib} MiB in ${CHUNK / 1024} KiB messages over ${tls ? "wss (TLS)" : "ws"} to a local Bun.serve, ${values.runs} runs each, medians (min–max); Bun ${Bun.version}`);
    for (const [kind, r] of results) {
      const t = summarize(r.mibs);
      const s = (ms: number[]) => {
        const c = summarize(ms);
        return `${(c.median / 1000).toFixed(2)} s (${(c.min / 1000).toFixed(2)}–${(c.max / 1000).toFixed(2)})`;
      };
      const line = r.mibs.length ? `${t.median.toFixed(0)} MiB/s (${t.min.toFixed(0)}–${t.max.toFixed(0)}), client CPU while sending ${s(r.cpuMs)}, whole client process ${s(r.processCpuMs)}` : "no run completed";
      console.log(`  ${kind.padEnd(10)} ${line}${r.failed.length ? `; ${r.failed.length} failed: ${r.failed[0]}` : ""}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
