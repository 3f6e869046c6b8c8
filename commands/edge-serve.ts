import { defineCommand } from "citty";
import { init, runCommand, shutdownSignal, version } from "../lib/cli/run.ts";
import { log } from "../lib/cli/log.ts";
import { startEdge } from "../lib/edge/server.ts";
import { resolveServeSettings, serveArgs } from "../lib/edge/config/settings.ts";

const cmd = defineCommand({
  meta: { name: "serve", description: "Run the edge: HTTPS listener, sign-in, admin API, connector endpoint", version },
  args: serveArgs,
  async run({ args, rawArgs }) {
    init(args);
    const s = resolveServeSettings(args, rawArgs);
    const signal = shutdownSignal();
    const edge = await startEdge({ ...s.edge, version });
    await new Promise((r) => signal.addEventListener("abort", r, { once: true }));
    log.info("edge shutting down");
    await edge.stop(s.gracePeriodMs);
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);
