#!/usr/bin/env bun
// The one binary: cloudflared's grammar (`wicket tunnel …`, `wicket access ssh …`) over the
// command files, each of which also builds and runs on its own.
import { defineCommand } from "citty";
import { lazy, runCommand, version } from "../lib/cli/run.ts";

const cmd = defineCommand({
  meta: { name: "wicket", description: "Identity-aware SSH access to machines with no inbound ports", version },
  subCommands: { tunnel: lazy(() => import("./tunnel.ts")), access: lazy(() => import("./access.ts")), edge: lazy(() => import("./edge.ts")), doctor: lazy(() => import("./doctor.ts")) },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);
