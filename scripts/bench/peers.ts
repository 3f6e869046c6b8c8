// "Through a peer node" (issue 15): three edge nodes on one throwaway PostgreSQL database, one
// connector attached to node 1 only. SSH bulk and `ssh H true` are taken in turns through node 1
// (the direct node) and through node 2 (which forwards over its peer link to node 1); then a live
// session held by node 2 is revoked through node 3, by token and by session id, and the time to
// its cut is measured. Without a PostgreSQL server the group is skipped, with the reason.
import { SQL } from "bun";
import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { run, spawnProc, type Proc } from "../../test/helpers/proc.ts";
import type { Sshd } from "../../test/helpers/sshd.ts";
import { tempDir, type TempDir } from "../../test/helpers/tmp.ts";
import { startEdge, type ServiceToken, type TestEdge } from "../../test/helpers/wicket.ts";
import { sshCat, timed, WARMUP_BYTES, zeros } from "./measure.ts";
import { CIPHER } from "./rig.ts";

export const PEER_HOST = "ssh.peers.bench.test";
const PEER_ZONE = "peers.bench.test";
/** How long a revoked session may live on before the run calls the cut missing. */
const CUT_TIMEOUT_MS = 10_000;

/** The server the group's database is made on: WICKET_BENCH_POSTGRES_URL, else the tests' one. */
export function postgresUrl(): string | undefined {
  return process.env.WICKET_BENCH_POSTGRES_URL || process.env.WICKET_TEST_POSTGRES_URL || undefined;
}

/** The URL without its password, for messages. */
const shown = (url: string) => {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(an unparsable URL)";
  }
};

/** A new, empty database on the server, dropped when disposed: test/helpers/store.ts's
 * tempDatabase(), for a server the bench names itself. */
async function tempDatabase(server: string): Promise<{ url: string } & AsyncDisposable> {
  const db = `wicket_bench_${crypto.randomUUID().replaceAll("-", "")}`;
  const admin = new SQL(server);
  try {
    await admin.unsafe(`CREATE DATABASE ${db}`);
  } finally {
    await admin.close();
  }
  const url = new URL(server);
  url.pathname = `/${db}`;
  return {
    url: url.toString(),
    async [Symbol.asyncDispose]() {
      const admin = new SQL(server);
      await admin.unsafe(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
      await admin.close();
    },
  };
}

export type PeerPathName = "node 1" | "node 2";

export interface PeerRig extends AsyncDisposable {
  nodes: TestEdge[];
  token: ServiceToken;
  connector: Proc;
  dir: TempDir;
  sshd: Sshd;
  /** ssh through node 1 (the connector's node) and through node 2 (forwarded to node 1). */
  paths: Record<PeerPathName, { name: PeerPathName; args: string[] }>;
}

/** The database and the three nodes, or why they cannot be had (no server, none reachable). */
export async function startPeerRig(log: (msg: string) => void, sshd: Sshd): Promise<PeerRig | { skipped: string }> {
  const server = postgresUrl();
  if (!server) return { skipped: "no PostgreSQL server: set WICKET_BENCH_POSTGRES_URL or WICKET_TEST_POSTGRES_URL" };
  const cleanups: (() => PromiseLike<unknown>)[] = [];
  const dispose = async () => {
    for (const c of cleanups.reverse()) await Promise.resolve(c()).catch(() => {});
  };
  let db: Awaited<ReturnType<typeof tempDatabase>>;
  try {
    db = await tempDatabase(server);
  } catch (err) {
    return { skipped: `cannot make a database on ${shown(server)}: ${(err as Error).message}` };
  }
  cleanups.push(() => db[Symbol.asyncDispose]());
  try {
    log("through a peer node: starting three edge nodes on a throwaway PostgreSQL database");
    const dir = await tempDir("wicket-bench-peers-");
    cleanups.push(() => dir.remove());
    const nodes: TestEdge[] = [];
    for (let i = 0; i < 3; i++) {
      const nodeDir = await tempDir(`wicket-bench-peer-${i + 1}-`);
      cleanups.push(() => nodeDir.remove());
      if (i > 0) {
        // the same CA and admin token as node 1, as the README says
        mkdirSync(nodeDir.join("edge"), { recursive: true, mode: 0o700 });
        for (const f of ["ca.pem", "ca-key.pem", "admin-token"]) copyFileSync(join(nodes[0]!.dataDir, f), join(nodeDir.join("edge"), f));
      }
      const node = await startEdge({ dir: nodeDir, extra: ["--database", db.url] });
      cleanups.push(() => node.stop());
      nodes.push(node);
    }
    const token = await nodes[0]!.app(PEER_HOST, PEER_ZONE);
    const zoneSeen = new RegExp(`the zones in the store changed \\(now: [^)]*${PEER_ZONE.replace(/\./g, "\\.")}`);
    for (const n of nodes.slice(1)) await n.proc.waitForLine(zoneSeen, { stream: "stderr", timeoutMs: 10_000 });
    // one connection, to node 1 only: nodes 2 and 3 reach it over peer links
    const connector = await nodes[0]!.tunnel(PEER_HOST, `ssh://127.0.0.1:${sshd.port}`, ["--ha-connections", "1"]);
    const sshOptions = [`Ciphers ${CIPHER}`, "Compression no"];
    const via = async (name: PeerPathName, n: TestEdge) => ({ name, args: [...(await sshd.client(PEER_HOST, { proxyCommand: n.proxyCommand(token), config: sshOptions })).args, PEER_HOST] });
    return {
      nodes,
      token,
      connector,
      dir,
      sshd,
      paths: { "node 1": await via("node 1", nodes[0]!), "node 2": await via("node 2", nodes[1]!) },
      [Symbol.asyncDispose]: dispose,
    };
  } catch (err) {
    await dispose();
    throw err;
  }
}

export interface PeersResult {
  /** `ssh H true`, ms, through each node. */
  setup: Record<PeerPathName, number[]>;
  bulkBytes: number;
  /** `ssh H 'cat > /dev/null'`, ms, through each node. */
  bulkMs: Record<PeerPathName, number[]>;
  /** From the start of `wicket edge token revoke` (or `session revoke`) through node 3 to the
   * exit of the ssh whose session node 2 held, ms. The CLI's own start-up is inside. */
  revokeToCutMs: { token: number[]; session: number[] };
}

/** What went wrong, with the output of the edge nodes that may say why. */
function broke(rig: PeerRig, what: string, extra?: Proc): Error {
  const logs = rig.nodes.map((n, i) => `--- node ${i + 1} ---\n${n.proc.stderr().slice(-2000)}`).join("\n");
  return new Error(`${what}\n${extra ? `${extra.output()}\n` : ""}${logs}`);
}

export async function peerSetup(rig: PeerRig, runs: number): Promise<PeersResult["setup"]> {
  const paths = Object.values(rig.paths);
  const out: PeersResult["setup"] = { "node 1": [], "node 2": [] };
  const once = async (p: (typeof paths)[number]) => {
    const r = await run(["ssh", ...p.args, "true"]);
    if (r.code !== 0) throw broke(rig, `ssh ${PEER_HOST} true through ${p.name} exited with ${r.code}\n${r.stderr}`);
  };
  for (const p of paths) await once(p); // warm-up; node 2 dials its peer link here
  for (let i = 0; i < runs; i++) for (const p of paths) out[p.name].push(await timed(() => once(p)));
  return out;
}

export async function peerBulk(rig: PeerRig, bytes: number, runs: number): Promise<Pick<PeersResult, "bulkBytes" | "bulkMs">> {
  const [file, warm] = await Promise.all([zeros(rig.dir, bytes), zeros(rig.dir, Math.min(WARMUP_BYTES, bytes))]);
  const paths = Object.values(rig.paths);
  for (const p of paths) await sshCat(p, warm, false);
  const out: PeersResult["bulkMs"] = { "node 1": [], "node 2": [] };
  for (let i = 0; i < runs; i++) for (const p of paths) out[p.name].push((await sshCat(p, file, false)).ms);
  return { bulkBytes: bytes, bulkMs: out };
}

/**
 * A live ssh through node 2 with a token of its own, revoked through node 3 (by the token, or
 * by the session's id as node 2 lists it), `runs` times each, in turns; ms from the revoke
 * command's start to the ssh's exit.
 */
export async function revokeToCut(rig: PeerRig, runs: number): Promise<PeersResult["revokeToCutMs"]> {
  const [node1, node2, node3] = rig.nodes as [TestEdge, TestEdge, TestEdge];
  const out: PeersResult["revokeToCutMs"] = { token: [], session: [] };
  const once = async (how: "token" | "session") => {
    const name = `bench-revoke-${crypto.randomUUID().slice(0, 8)}`;
    const tok: ServiceToken = { ...JSON.parse(await node1.admin(["token", "create", name, "--json"])), name };
    await node1.admin(["policy", "add", PEER_HOST, "--name", `allow ${name}`, "--action", "allow", "--include", `token:${name}`]);
    const c = await rig.sshd.client(PEER_HOST, { proxyCommand: node2.proxyCommand(tok) });
    await using ssh = spawnProc(["ssh", ...c.args, PEER_HOST, "echo up; exec sleep 60"], { name: "ssh through node 2" });
    await ssh.waitForLine(/^up$/, { stream: "stdout", timeoutMs: 15_000 });
    let args = ["token", "revoke", name];
    if (how === "session") {
      const listed = JSON.parse(await node2.admin(["session", "list", "--json"]));
      const sessions: { id: string; identity: string; host: string }[] = Array.isArray(listed) ? listed : listed.sessions;
      const s = sessions.find((x) => x.host === PEER_HOST && x.identity.includes(name));
      if (!s) throw broke(rig, `node 2 does not list the session of token ${name}: ${JSON.stringify(listed)}`);
      args = ["session", "revoke", s.id];
    }
    const started = performance.now();
    await node3.admin(args);
    let timer: Timer | undefined;
    const code = await Promise.race([ssh.exited, new Promise<undefined>((r) => (timer = setTimeout(r, CUT_TIMEOUT_MS)))]);
    clearTimeout(timer);
    const ms = performance.now() - started;
    if (code === undefined) throw broke(rig, `a session held by node 2 was still up ${CUT_TIMEOUT_MS / 1000} s after \`wicket edge ${args.join(" ")}\` through node 3`, ssh);
    if (code !== 255) throw broke(rig, `the ssh whose session was revoked exited with ${code}, not 255 (cut by the edge)`, ssh);
    out[how].push(ms);
  };
  for (let i = 0; i < runs; i++) for (const how of ["token", "session"] as const) await once(how);
  return out;
}
