// wicket edge logout: end `wicket edge login`'s admin session at the edge and forget it here.
import { defineCommand } from "citty";
import { discover, revokeToken } from "../lib/access/oauth.ts";
import { deleteAdminLogin, readAdminLogin } from "../lib/admin-client/login.ts";
import { logArgs } from "../lib/cli/args.ts";
import { log } from "../lib/cli/log.ts";
import { init, runCommand } from "../lib/cli/run.ts";

const cmd = defineCommand({
  meta: { name: "logout", description: "end the admin session of wicket edge login, at the edge and here" },
  args: logArgs,
  async run({ args }) {
    init(args);
    const login = readAdminLogin();
    if (!login) {
      deleteAdminLogin(); // an expired one, if any
      return log.success("not signed in as an admin; nothing to do");
    }
    try {
      await revokeToken(await discover(login.edge, login.ca), login.token, login.ca);
    } catch (e) {
      log.warn(`could not end the session at ${login.edge} (${(e as Error).message}); it ends by itself when it expires`);
    }
    deleteAdminLogin();
    log.success(`signed out${login.email ? ` ${login.email}` : ""} from ${login.edge}`);
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);
