import { defineCommand } from "citty";
import { runCommand, version } from "../lib/cli/run.ts";
import serve from "./edge-serve.ts";
import zone from "./edge-zone.ts";
import app from "./edge-app.ts";
import token from "./edge-token.ts";
import policy from "./edge-policy.ts";
import tunnelCert from "./edge-tunnel-cert.ts";
import user from "./edge-user.ts";
import session from "./edge-session.ts";
import audit from "./edge-audit.ts";
import sshCa from "./edge-ssh-ca.ts";

const cmd = defineCommand({
  meta: { name: "edge", description: "Run the edge, and administer it: zones, applications, tokens, policies, users, sessions, audit, SSH CA", version },
  subCommands: { serve, zone, app, token, policy, "tunnel-cert": tunnelCert, "ssh-ca": sshCa, user, session, audit },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);
