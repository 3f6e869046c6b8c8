// wicket edge tunnel-cert <zone> --out cert.pem: a zone credential for a connector, made by
// an admin instead of through `tunnel login` (for servers without a browser nearby).
import { defineCommand } from "citty";
import { chmodSync, existsSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { postTunnelCert, resolveAdminConnection } from "../lib/admin/client.ts";
import { printJson, printLine } from "../lib/admin/output.ts";
import { adminArgs, logArgs } from "../lib/cli/args.ts";
import { configError, usageError } from "../lib/cli/exit.ts";
import { log } from "../lib/cli/log.ts";
import { init, runCommand } from "../lib/cli/run.ts";

const cmd = defineCommand({
  meta: { name: "tunnel-cert", description: "write a zone credential (cert.pem) that lets a connector serve hostnames in a zone" },
  args: {
    ...logArgs,
    ...adminArgs,
    zone: { type: "positional", description: "the zone, e.g. example.com", required: true },
    out: { type: "string", description: "where to write the credential (mode 0600)", default: "cert.pem", valueHint: "file" },
    force: { type: "boolean", description: "overwrite an existing file", default: false },
  },
  async run({ args }) {
    init(args);
    const out = resolve(args.out);
    // Checked before asking, so that no unused credential is made; "wx" below closes the race.
    if (existsSync(out) && !args.force) throw usageError(`${out} already exists; pass --force to overwrite it`);
    const { id, zone, credential } = await postTunnelCert(resolveAdminConnection(args), args.zone);
    try {
      writeFileSync(out, credential, { mode: 0o600, flag: args.force ? "w" : "wx" });
      chmodSync(out, 0o600); // an overwritten file keeps its old mode otherwise
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === "EEXIST") throw usageError(`${out} already exists; pass --force to overwrite it`);
      throw configError(`cannot write ${out}: ${err.code ?? err.message}`);
    }
    if (args.json) return printJson({ path: out, zone, id });
    printLine(out);
    log.info(`zone credential for ${zone} written; on the server: wicket tunnel --origincert ${out} --hostname <host in ${zone}> --url ssh://localhost:22`);
  },
});

export default cmd;

if (import.meta.main) runCommand(cmd);
