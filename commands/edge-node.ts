// wicket edge node list: the edge nodes of the cluster, as the store's registry has them: where
// peers reach each, its version, when it started and last beat, the hostnames it holds
// connectors for, and whether it is draining.
import { defineCommand } from "citty";
import { getNodes, resolveAdminConnection } from "../lib/admin-client/client.ts";
import { printJson, printLine, printTable, when } from "../lib/admin-client/output.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";

const list = defineCommand({
  meta: { name: "list", description: "list the live edge nodes of the cluster, oldest first, with the hostnames each holds connectors for" },
  args: adminArgs,
  async run({ args }) {
    init(args);
    const { nodes, registry } = await getNodes(resolveAdminConnection(args));
    if (args.json) return printJson(nodes);
    if (!registry) return printLine("one edge node: the node registry is kept only with a PostgreSQL store (wicket edge serve --database postgres://…)");
    printTable(
      ["id", "peer url", "version", "started", "heartbeat", "hostnames", "draining"],
      nodes.map((n) => [
        n.id,
        n.peerUrl,
        n.version,
        when(n.startedAt),
        when(n.heartbeatAt),
        n.hostnames.map((h) => `${h.hostname} (${h.connections})`).join(", ") || "-",
        n.draining ? "yes" : "no",
      ]),
      "no live edge nodes",
    );
  },
});

const cmd = defineCommand({
  meta: { name: "node", description: "list the edge nodes of a cluster (PostgreSQL)" },
  subCommands: { list },
});

export default cmd;

if (import.meta.main) runCommand(cmd);
