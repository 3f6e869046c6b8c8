// wicket edge session list|revoke: the live client sessions on the edge node answering, and
// cutting one of them now.
import { defineCommand } from "citty";
import { deleteSession, getSessions, resolveAdminConnection } from "../lib/admin/client.ts";
import { bytes, printJson, printLine, printTable, when } from "../lib/admin/output.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";


const list = defineCommand({
  meta: { name: "list", description: "list live sessions on this edge node, oldest first" },
  args: adminArgs,
  async run({ args }) {
    init(args);
    const sessions = await getSessions(resolveAdminConnection(args));
    if (args.json) return printJson(sessions);
    printTable(
      ["id", "identity", "host", "ip", "started", "up", "down"],
      sessions.map((s) => [s.id, s.identity, s.host, s.ip, when(s.startedAt), bytes(s.bytesToOrigin), bytes(s.bytesToClient)]),
      "no live sessions on this edge node",
    );
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
