// wicket edge tunnel-cert <zone> --out cert.pem: a zone credential for a connector, made by
// an admin instead of through `tunnel login` (for servers without a browser nearby);
// `tunnel-cert list` shows every zone credential, `tunnel-cert revoke <id>` ends one and cuts
// its connectors.
import { defineCommand } from "citty";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { deleteTunnelCert, getTunnelCerts, postTunnelCert, resolveAdminConnection, type AdminConnectionArgs } from "../lib/admin-client/client.ts";
import type { ZoneCredentialInfo as ZoneCredential } from "../lib/admin-client/client.ts";
import { printJson, printLine, printTable, when } from "../lib/admin-client/output.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { configError, usageError } from "../lib/cli/exit.ts";
import { log } from "../lib/cli/log.ts";
import { init, runCommand } from "../lib/cli/run.ts";
import { writePrivate } from "../lib/paths.ts";

/** `tunnel-cert list`: every zone credential, who obtained it, when, last used, expiry, and the tunnels it made. */
async function list(args: { json?: boolean } & AdminConnectionArgs) {
  {
    const creds = await getTunnelCerts(resolveAdminConnection(args));
    if (args.json) return printJson(creds);
    const state = (c: ZoneCredential) => (c.revokedAt !== undefined ? `revoked ${when(c.revokedAt)}` : c.expiresAt !== undefined && c.expiresAt <= Date.now() ? "expired" : "live");
    printTable(
      ["ID", "ZONE", "OBTAINED BY", "CREATED", "LAST USED", "EXPIRES", "STATE", "TUNNELS"],
      creds.map((c) => [
        c.id,
        c.zone,
        c.obtainedBy || "-",
        when(c.createdAt),
        c.lastUsedAt ? when(c.lastUsedAt) : "never",
        c.expiresAt ? when(c.expiresAt) : "never (issued before expiry)",
        state(c),
        c.tunnels.map((t) => `${t.name}${t.disabled ? " (disabled)" : ""}`).join(",") || "-",
      ]),
      "(no zone credentials)",
    );
  }
}

/** `tunnel-cert revoke <id>`: it and the tunnels it made stop working; their connectors are cut on
 * every node within a second and cannot come back. */
async function revoke(args: { json?: boolean } & AdminConnectionArgs, id: string | undefined) {
  if (!id) throw usageError("which credential? wicket edge tunnel-cert revoke <id> (ids from `wicket edge tunnel-cert list`)");
  const c = await deleteTunnelCert(resolveAdminConnection(args), id);
  if (args.json) return printJson(c);
  printLine(`revoked zone credential ${c.id} of ${c.zone}`);
  for (const t of c.tunnels) printLine(`disabled tunnel ${t.name} (${t.id}), which it made${t.routes.length ? `; ${t.routes.join(", ")} now route to no tunnel` : ""}`);
  if (c.tunnels.length) log.info(`their owner serves again with a new credential: wicket tunnel login, then wicket tunnel create and wicket tunnel route (or wicket tunnel token --rotate NAME)`);
}

const cmd = defineCommand({
  meta: { name: "tunnel-cert", description: "write a zone credential (cert.pem) that lets a connector serve hostnames in a zone; `tunnel-cert list` and `tunnel-cert revoke <id>` manage them" },
  args: {
    ...adminArgs,
    zone: { type: "positional", description: "the zone, e.g. example.com (or list, or revoke <id>)", required: true },
    out: { type: "string", description: "where to write the credential (mode 0600)", default: "cert.pem", valueHint: "file" },
    force: { type: "boolean", description: "overwrite an existing file", default: false },
  },
  async run({ args }) {
    init(args);
    // list and revoke as words where a zone would be: a zone name always has a dot
    if (args.zone === "list") return list(args);
    if (args.zone === "revoke") return revoke(args, args._?.[1]);
    const out = resolve(args.out);
    // Checked before asking, so that no unused credential is made; the exclusive write below closes the race.
    if (existsSync(out) && !args.force) throw usageError(`${out} already exists; pass --force to overwrite it`);
    const { id, zone, credential } = await postTunnelCert(resolveAdminConnection(args), args.zone);
    try {
      writePrivate(out, credential, { exclusive: !args.force });
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
