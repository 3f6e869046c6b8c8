// wicket edge login [--edge URL]: sign in through the browser as yourself, and keep the admin
// session (~/.wicket/edge-admin.json, 0600) that the `wicket edge` commands then use instead of
// an admin token. What you may do is what you administer: the whole edge (edge.yaml's admins:)
// or your zones, decided by the edge on every call. `wicket edge logout` ends it.
import { defineCommand } from "citty";
import { signInMode } from "../lib/access/options.ts";
import { deviceFlow, discover } from "../lib/access/oauth.ts";
import { edgeBase } from "../lib/access/signin.ts";
import { saveAdminLogin } from "../lib/admin-client/login.ts";
import { browserArgs, edgeArgs, edgeOf, logArgs } from "../lib/cli/args.ts";
import { usageError } from "../lib/cli/exit.ts";
import { log } from "../lib/cli/log.ts";
import { init, runCommand, shutdownSignal } from "../lib/cli/run.ts";

const cmd = defineCommand({
  meta: { name: "login", description: "sign in through the browser and administer the edge as yourself, without an admin token" },
  args: { ...browserArgs, ...edgeArgs, ...logArgs },
  async run({ args }) {
    init(args);
    const { edge, ca } = await edgeOf(args);
    if (!edge) throw usageError("which edge? pass --edge https://edge.example.com (or set WICKET_EDGE)");
    const signal = shutdownSignal();
    const meta = await discover(edgeBase({ hostname: "", edge }), ca);
    const t = await deviceFlow(meta, { scope: "admin", ca, browser: signInMode(args, signal).browser, what: `administering ${new URL(meta.issuer).host}`, signal });
    const path = saveAdminLogin({ edge: meta.issuer, token: t.access_token, email: t.email, expiresAt: t.expires_in ? Date.now() + t.expires_in * 1000 : undefined, ca });
    process.stdout.write(path + "\n");
    log.success(`signed in as ${t.email ?? "you"}; the wicket edge commands now run as you at ${meta.issuer} (wicket edge logout ends it)`);
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);
