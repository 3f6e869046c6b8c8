// wicket access logout [hostname]: forget the app token of one application; with no
// hostname, forget every token and end every org session (revoked at its edge too, so a
// copy of the file is worth nothing).
import { defineCommand } from "citty";
import { rmSync } from "node:fs";
import { edgeArgs, edgeOf, hostnameArg, logArgs } from "../lib/cli/args.ts";
import { log } from "../lib/cli/log.ts";
import { init, runCommand } from "../lib/cli/run.ts";
import { appTokenPath } from "../lib/paths.ts";
import { allAppTokenFiles, allOrgSessions } from "../lib/access/files.ts";
import { discover, revokeToken } from "../lib/access/oauth.ts";

const cmd = defineCommand({
  meta: { name: "logout", description: "Forget an application's token, or (no hostname) every token and sign-in session" },
  args: {
    hostname: { type: "positional", description: "the application's hostname; omit to sign out of everything", required: false },
    ...edgeArgs,
    ...logArgs,
  },
  async run({ args }) {
    init(args);
    if (args.hostname) {
      const hostname = hostnameArg(args.hostname);
      rmSync(appTokenPath(hostname), { force: true });
      log.success(`forgot the token for ${hostname}`);
      return;
    }
    const { ca } = await edgeOf(args);
    for (const { path, session } of allOrgSessions()) {
      if (session?.issuer && session.refresh_token) {
        try {
          await revokeToken(await discover(session.issuer, ca), session.refresh_token, ca);
        } catch (e) {
          log.warn(`could not end the session at ${session.issuer} (${(e as Error).message}); it ends by itself when it expires`);
        }
      }
      rmSync(path, { force: true });
    }
    const tokens = allAppTokenFiles();
    for (const t of tokens) rmSync(t, { force: true });
    log.success(`signed out: ${tokens.length} app token${tokens.length === 1 ? "" : "s"} forgotten`);
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);
