// wicket tunnel login [--edge URL]: sign in through the browser, pick one of the zones you
// administer, and save the zone credential (~/.wicket/cert.pem, 0600) that `wicket tunnel`
// then uses. The same file `wicket edge tunnel-cert` writes, without needing an admin token.
import { defineCommand } from "citty";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { browserArgs, edgeArgs, edgeOf, fromEnv, logArgs } from "../lib/cli/args.ts";
import { signInMode } from "../lib/access/options.ts";
import { configError, usageError } from "../lib/cli/exit.ts";
import { log } from "../lib/cli/log.ts";
import { init, runCommand, shutdownSignal, version } from "../lib/cli/run.ts";
import { originCertPath, writePrivate } from "../lib/paths.ts";
import { parseZoneCredential } from "../lib/auth/zone-credential.ts";
import { deviceFlow, discover } from "../lib/access/oauth.ts";
import { edgeBase } from "../lib/access/signin.ts";
import { ENV_ALIASES } from "../lib/tunnel/settings.ts";

const cmd = defineCommand({
  meta: { name: "login", description: "Sign in through the browser and save the credential that lets this server serve a zone", version },
  args: {
    origincert: { type: "string", description: "where to save the credential (env WICKET_ORIGINCERT; default ~/.wicket/cert.pem)", valueHint: "file" },
    force: { type: "boolean", description: "overwrite an existing credential", default: false },
    ...browserArgs,
    ...edgeArgs,
    ...logArgs,
  },
  async run({ args }) {
    init(args);
    const out = resolve(fromEnv(args.origincert, "origincert", ...ENV_ALIASES.origincert!) ?? originCertPath());
    // Checked before signing in, so nobody confirms a sign-in whose result cannot be saved.
    if (existsSync(out) && !args.force) throw usageError(`${out} already exists; pass --force to replace it, or use it as it is: wicket tunnel --hostname <host>`);
    const { edge, ca } = await edgeOf(args);
    if (!edge) throw usageError("which edge? pass --edge https://edge.example.com (or set WICKET_EDGE)");
    const signal = shutdownSignal();
    const meta = await discover(edgeBase({ hostname: "", edge }), ca);
    const t = await deviceFlow(meta, { scope: "tunnel", ca, browser: signInMode(args, signal).browser, what: `a server's zone credential at ${new URL(meta.issuer).host}`, signal });
    const cred = parseZoneCredential(t.access_token, "the credential the edge sent");
    try {
      writePrivate(out, t.access_token, { exclusive: !args.force });
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === "EEXIST") throw usageError(`${out} appeared meanwhile; pass --force to replace it`);
      throw configError(`cannot write ${out}: ${err.code ?? err.message}`);
    }
    process.stdout.write(out + "\n");
    log.success(`zone credential for ${cred.zone} saved; serve a hostname with: wicket tunnel --hostname <host in ${cred.zone}> --url ssh://localhost:22`);
  },
});

export default cmd;
if (import.meta.main) await runCommand(cmd);
