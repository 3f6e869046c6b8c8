// wicket edge cert list|renew: the certificates an edge with --tls acme holds for its own host
// and its applications, and a renewal now.
import { defineCommand } from "citty";
import { getCerts, renewCert, resolveAdminConnection } from "../lib/admin-client/client.ts";
import { printJson, printLine, printTable, when } from "../lib/admin-client/output.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { init, runCommand } from "../lib/cli/run.ts";

const list = defineCommand({
  meta: { name: "list", description: "list the ACME certificates: names, issuer, expiry, last renewal and its error" },
  args: adminArgs,
  async run({ args }) {
    init(args);
    const { certs, acme } = await getCerts(resolveAdminConnection(args));
    if (args.json) return printJson(certs);
    if (!acme && certs.length === 0) return printLine("this edge does not get its certificates from ACME (run it with --tls acme)");
    printTable(
      ["name", "issuer", "not after", "renewed", "last error"],
      certs.map((c) => [c.name, c.issuer ?? "-", c.notAfter ? when(c.notAfter) : "(not yet issued)", c.renewedAt ? when(c.renewedAt) : "-", c.lastError ? `${c.lastError} (${c.failures} failed)` : "-"]),
      "no certificates yet",
    );
  },
});

const renew = defineCommand({
  meta: { name: "renew", description: "order a new certificate for a name now, due or not" },
  args: { ...adminArgs, name: { type: "positional", description: "the edge's host or an application hostname (*.zone for a wildcard)", required: true } },
  async run({ args }) {
    init(args);
    const c = await renewCert(resolveAdminConnection(args), args.name);
    args.json ? printJson(c) : printLine(`renewed the certificate for ${c.name}: issued by ${c.issuer}, valid until ${when(c.notAfter!)}`);
  },
});

const cmd = defineCommand({
  meta: { name: "cert", description: "the edge's ACME certificates (--tls acme): list, renew" },
  subCommands: { list, renew },
});

export default cmd;

if (import.meta.main) runCommand(cmd);
