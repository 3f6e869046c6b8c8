import { defineCommand } from "citty";
import { lazy, runCommand, version } from "../lib/cli/run.ts";

const cmd = defineCommand({
  meta: { name: "edge", description: "Run the edge, and administer it: zones, applications, tokens, admin tokens, policies, users, sessions, audit, recordings, SSH CA, signing keys", version },
  subCommands: {
    serve: lazy(() => import("./edge-serve.ts")),
    zone: lazy(() => import("./edge-zone.ts")),
    app: lazy(() => import("./edge-app.ts")),
    token: lazy(() => import("./edge-token.ts")),
    "admin-token": lazy(() => import("./edge-admin-token.ts")),
    login: lazy(() => import("./edge-login.ts")),
    logout: lazy(() => import("./edge-logout.ts")),
    policy: lazy(() => import("./edge-policy.ts")),
    tunnel: lazy(() => import("./edge-tunnel.ts")),
    "tunnel-cert": lazy(() => import("./edge-tunnel-cert.ts")),
    "ssh-ca": lazy(() => import("./edge-ssh-ca.ts")),
    "signing-key": lazy(() => import("./edge-signing-key.ts")),
    user: lazy(() => import("./edge-user.ts")),
    session: lazy(() => import("./edge-session.ts")),
    node: lazy(() => import("./edge-node.ts")),
    cert: lazy(() => import("./edge-cert.ts")),
    audit: lazy(() => import("./edge-audit.ts")),
    recording: lazy(() => import("./edge-recording.ts")),
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);
