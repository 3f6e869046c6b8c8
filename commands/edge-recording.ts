// wicket edge recording list|export: the recordings of browser terminal sessions (applications
// with --record), as asciicast v2 that `asciinema play` plays.
import { once } from "node:events";
import { defineCommand } from "citty";
import { getRecordingCast, getRecordings, resolveAdminConnection } from "../lib/admin-client/client.ts";
import { bytes, printJson, printTable, when } from "../lib/admin-client/output.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";

const list = defineCommand({
  meta: { name: "list", description: "list recordings, newest first" },
  args: {
    ...adminArgs,
    user: { type: "string", description: "only this person's (e-mail) or this Unix user's", valueHint: "who" },
    host: { type: "string", description: "only this hostname's or application's", valueHint: "hostname" },
    limit: { type: "string", description: "at most this many (default 100)", valueHint: "n" },
  },
  async run({ args }) {
    init(args);
    const recs = await getRecordings(resolveAdminConnection(args), { user: args.user, host: args.host, limit: args.limit });
    args.json
      ? printJson(recs)
      : printTable(
          ["id", "host", "who", "as", "started", "ended", "size", "input"],
          recs.map((r) => [r.id, r.host, r.identity, r.principal, when(r.startedAt), r.endedAt ? when(r.endedAt) : "running", bytes(r.bytes), r.input ? "yes" : "no"]),
          "no recordings; an application records its browser sessions with: wicket edge app edit <hostname> --record",
        );
  },
});

const exportCmd = defineCommand({
  meta: { name: "export", description: "write a recording to stdout as asciicast v2: wicket edge recording export <id> > session.cast" },
  args: { ...adminArgs, id: { type: "positional", description: "the recording's id (rec_…), from `recording list` or the audit", required: true } },
  async run({ args }) {
    init(args);
    // as it arrives: a recording can be larger than this process should hold
    for await (const chunk of await getRecordingCast(resolveAdminConnection(args), args.id)) {
      if (!process.stdout.write(chunk)) await once(process.stdout, "drain");
    }
  },
});

const cmd = defineCommand({
  meta: { name: "recording", description: "list and export the recordings of browser terminal sessions" },
  subCommands: { list, export: exportCmd },
});

export default cmd;

if (import.meta.main) runCommand(cmd);
