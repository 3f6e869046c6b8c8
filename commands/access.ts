import { defineCommand } from "citty";
import { runCommand, version } from "../lib/cli/run.ts";
import ssh from "./access-ssh.ts";
import tcp from "./access-tcp.ts";
import sshConfig from "./access-ssh-config.ts";
import sshGen from "./access-ssh-gen.ts";

const cmd = defineCommand({
  meta: { name: "access", description: "Reach applications behind the edge: SSH ProxyCommand, local TCP, ssh_config", version },
  subCommands: { ssh, tcp, "ssh-config": sshConfig, "ssh-gen": sshGen },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);
