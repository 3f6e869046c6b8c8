#!/usr/bin/env bun
// The one binary: cloudflared's grammar (`wicket tunnel …`, `wicket access ssh …`) over the
// command files, each of which also builds and runs on its own.
import { defineCommand } from "citty";
import { runCommand, version } from "../lib/cli/run.ts";
import tunnel from "./tunnel.ts";
import access from "./access.ts";
import edge from "./edge.ts";

const cmd = defineCommand({
  meta: { name: "wicket", description: "Identity-aware SSH access to machines with no inbound ports", version },
  subCommands: { tunnel, access, edge },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);
