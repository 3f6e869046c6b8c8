// wicket tunnel login [--edge URL]: sign in through the browser, pick one of the zones you
// administer, and save the zone credential (~/.wicket/cert.pem, 0600) that `wicket tunnel`
// then uses. The same file `wicket edge tunnel-cert` writes, without needing an admin token.
import { defineCommand } from "citty";
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { edgeArgs, fromEnv, logArgs } from "../lib/cli/args.ts";
import { configError, usageError } from "../lib/cli/exit.ts";
import { log } from "../lib/cli/log.ts";
import { init, runCommand, shutdownSignal, version } from "../lib/cli/run.ts";
import { readCaFile } from "../lib/cli/values.ts";
import { originCertPath } from "../lib/paths.ts";
import { parseZoneCredential } from "../lib/auth/zone-credential.ts";
import { deviceFlow, discover } from "../lib/access/oauth.ts";
import { edgeBase } from "../lib/access/signin.ts";
import { browserArgs, signInMode } from "./access-ssh.ts";

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
    const out = resolve(fromEnv(args.origincert, "origincert", "TUNNEL_ORIGIN_CERT") ?? originCertPath());
    // Checked before signing in, so nobody confirms a sign-in whose result cannot be saved.
    if (existsSync(out) && !args.force) throw usageError(`${out} already exists; pass --force to replace it, or use it as it is: wicket tunnel --hostname <host>`);
    const edge = fromEnv(args.edge, "edge");
    if (!edge) throw usageError("which edge? pass --edge https://edge.example.com (or set WICKET_EDGE)");
    const ca = await readCaFile(fromEnv(args["ca-file"], "ca-file"));
    const signal = shutdownSignal();
    const meta = await discover(edgeBase({ hostname: "", edge }), ca);
    const t = await deviceFlow(meta, { scope: "tunnel", ca, browser: signInMode(args, signal).browser, what: `a server's zone credential at ${new URL(meta.issuer).host}`, signal });
    const cred = parseZoneCredential(t.access_token, "the credential the edge sent");
    try {
      mkdirSync(dirname(out), { recursive: true, mode: 0o700 });
      writeFileSync(out, t.access_token, { mode: 0o600, flag: args.force ? "w" : "wx" });
      chmodSync(out, 0o600); // an overwritten file keeps its old mode otherwise
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
