// git for tests: hermetic (no global or system config, a fixed identity), over ssh when given
// an SshClient's command.
import { expectExit, run, type Env, type RunResult } from "./proc.ts";

export function gitEnv(sshCommand?: string): Env {
  return {
    GIT_CONFIG_NOSYSTEM: "1",
    GIT_CONFIG_GLOBAL: "/dev/null",
    GIT_AUTHOR_NAME: "Wicket Test",
    GIT_AUTHOR_EMAIL: "test@wicket.test",
    GIT_COMMITTER_NAME: "Wicket Test",
    GIT_COMMITTER_EMAIL: "test@wicket.test",
    GIT_TERMINAL_PROMPT: "0",
    ...(sshCommand ? { GIT_SSH_COMMAND: sshCommand } : {}),
  };
}

/** Runs git and throws, with its output, unless it exits 0. */
export async function git(args: string[], opts: { cwd?: string; ssh?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return expectExit(await run(["git", "-c", "init.defaultBranch=main", ...args], { cwd: opts.cwd, env: gitEnv(opts.ssh), timeoutMs: opts.timeoutMs }));
}
