// wicket edge session list|revoke: the live client sessions on every node of the cluster (or the
// edge node answering), and cutting one of them now, wherever it is.
import { defineCommand } from "citty";
import { deleteSession, getSessions, resolveAdminConnection } from "../lib/admin-client/client.ts";
import { bytes, printJson, printLine, printTable, when } from "../lib/admin-client/output.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { log } from "../lib/cli/log.ts";
import { init, runCommand } from "../lib/cli/run.ts";

const list = defineCommand({
  meta: { name: "list", description: "list live sessions on every edge node of the cluster, oldest first" },
  args: { ...adminArgs, here: { type: "boolean", description: "only the sessions of the edge node answering" } },
  async run({ args }) {
    init(args);
    const { sessions, unreachable } = await getSessions(resolveAdminConnection(args), args.here ? "node" : undefined);
    const missing = (unreachable ?? []).map((u) => `node ${u.node}${u.peerUrl ? ` at ${u.peerUrl}` : ""} is not listed: ${u.error}`);
    if (args.json) {
      for (const m of missing) log.warn(m); // stdout stays the JSON list
      return printJson(sessions);
    }
    // A single SQLite node names no node: the column would say nothing.
    const nodes = sessions.some((s) => s.node);
    printTable(
      ["id", ...(nodes ? ["node"] : []), "identity", "host", "ip", "started", "up", "down"],
      sessions.map((s) => [s.id, ...(nodes ? [s.node ?? "-"] : []), s.identity, s.host, s.ip, when(s.startedAt), bytes(s.bytesToOrigin), bytes(s.bytesToClient)]),
      args.here ? "no live sessions on this edge node" : "no live sessions",
    );
    for (const m of missing) printLine(m);
  },
});

const revoke = defineCommand({
  meta: { name: "revoke", description: "close a live session now, on whichever edge node holds it; the client is told it was revoked" },
  args: { ...adminArgs, id: { type: "positional", description: "the session's id (see list)", required: true } },
  async run({ args }) {
    init(args);
    const r = await deleteSession(resolveAdminConnection(args), args.id);
    const s = r.session;
    if (args.json) return printJson({ ...s, elsewhere: r.elsewhere });
    printLine(r.elsewhere ? `revoked session ${s.id} of ${s.identity} to ${s.host}: it is not on this edge node; the node that holds it closes it within a second` : `closed session ${s.id} of ${s.identity} to ${s.host}`);
  },
});

const cmd = defineCommand({
  meta: { name: "session", description: "list and revoke live sessions" },
  subCommands: { list, revoke },
});

export default cmd;

if (import.meta.main) runCommand(cmd);
