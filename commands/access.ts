import { defineCommand } from "citty";
import { lazy, runCommand, version } from "../lib/cli/run.ts";

const cmd = defineCommand({
  meta: { name: "access", description: "Reach applications behind the edge: SSH ProxyCommand, local TCP, ssh_config, sign-in", version },
  subCommands: {
    ssh: lazy(() => import("./access-ssh.ts")),
    tcp: lazy(() => import("./access-tcp.ts")),
    "ssh-config": lazy(() => import("./access-ssh-config.ts")),
    "ssh-gen": lazy(() => import("./access-ssh-gen.ts")),
    login: lazy(() => import("./access-login.ts")),
    token: lazy(() => import("./access-token.ts")),
    logout: lazy(() => import("./access-logout.ts")),
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);
