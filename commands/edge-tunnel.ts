// wicket edge tunnel list|rm: every named tunnel of every zone, as an admin sees them.
import { defineCommand } from "citty";
import { deleteAnyTunnel, getAllTunnels, resolveAdminConnection } from "../lib/admin-client/client.ts";
import { printJson, printLine, printTunnels } from "../lib/admin-client/output.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";

const list = defineCommand({
  meta: { name: "list", description: "every tunnel: zone, routes, who created it, connections to this node now" },
  args: adminArgs,
  async run({ args }) {
    init(args);
    const tunnels = await getAllTunnels(resolveAdminConnection(args));
    if (args.json) return printJson(tunnels);
    printTunnels(tunnels);
  },
});

const rm = defineCommand({
  meta: { name: "rm", description: "delete a tunnel by id: its credentials stop working, its routes go, its connectors are cut" },
  args: { ...adminArgs, id: { type: "positional", description: "the tunnel's id (wtn_…)", required: true } },
  async run({ args }) {
    init(args);
    const t = await deleteAnyTunnel(resolveAdminConnection(args), args.id);
    args.json ? printJson(t) : printLine(`deleted tunnel ${t.name} (${t.id}) of ${t.zone}`);
  },
});

const cmd = defineCommand({ meta: { name: "tunnel", description: "list and remove named tunnels" }, subCommands: { list, rm } });

export default cmd;

if (import.meta.main) runCommand(cmd);
