// How the edge proves to an ACME CA that it holds a name: HTTP-01 on a plain-HTTP listener
// (`--acme-http-listen :80`, which redirects everything else to HTTPS), and DNS-01 through an
// exec hook (`--acme-dns-hook`), called like lego's `exec` provider:
//   hook present _acme-challenge.example.com. <value>
//   hook cleanup _acme-challenge.example.com. <value>
// The hook returns once the record is published; the CA then looks it up.
import type { Server } from "bun";
import { configError } from "../../cli/exit.ts";
import { boundedLog } from "../../cli/log.ts";
import { parseHostPort } from "../../cli/values.ts";
import { getAcmeChallenge, type Store } from "../../store/index.ts";

export const HTTP01_PREFIX = "/.well-known/acme-challenge/";
/** An HTTP-01 token as CAs make them (base64url); anything else is not looked up. */
const HTTP01_TOKEN = /^[A-Za-z0-9_-]{1,128}$/;

/** Where a TLS-ALPN-01 challenge's key authorization is kept, beside HTTP-01's tokens (which cannot contain ":"). */
export const alpnChallengeToken = (name: string) => `tls-alpn-01:${name}`;
const HOOK_TIMEOUT_MS = 5 * 60_000;

/**
 * The HTTP-01 listener: answers the CA's requests from the store (any node may be asked) and
 * sends everyone else to the same path over HTTPS on the edge's public port.
 */
export function serveHttp01(address: string, store: Store, publicUrl: () => string): Server<undefined> {
  const { hostname, port } = parseHostPort(address, "--acme-http-listen");
  const failures = boundedLog(); // anyone can send it a bad request
  try {
    return Bun.serve({
      hostname,
      port,
      reusePort: true,
      async fetch(req) {
        const url = new URL(req.url);
        if (url.pathname.startsWith(HTTP01_PREFIX)) {
          const token = url.pathname.slice(HTTP01_PREFIX.length);
          const answer = HTTP01_TOKEN.test(token) ? await getAcmeChallenge(store, token) : undefined;
          return answer ? new Response(answer, { headers: { "content-type": "application/octet-stream" } }) : new Response("no such challenge\n", { status: 404 });
        }
        const target = new URL(url.pathname + url.search, publicUrl());
        target.hostname = url.hostname; // the name asked for, on the edge's HTTPS port
        return Response.redirect(target.toString(), 308);
      },
      error(err) {
        failures("warn", `acme: the HTTP-01 listener failed a request: ${err.message}`);
        return new Response("internal error\n", { status: 500 });
      },
    });
  } catch (e) {
    throw configError(`cannot listen on --acme-http-listen ${address}: ${(e as Error).message}`);
  }
}

/** The TXT record's name for a DNS-01 challenge of `domain` (a wildcard's is its zone's). */
export const dns01RecordName = (domain: string) => `_acme-challenge.${domain.replace(/^\*\./, "")}.`;

/** Runs the DNS hook; rejects with its exit code and last line of stderr. */
export async function runDnsHook(hook: string, action: "present" | "cleanup", record: string, value: string): Promise<void> {
  let proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  try {
    proc = Bun.spawn([hook, action, record, value], { stdin: "ignore", stdout: "pipe", stderr: "pipe", timeout: HOOK_TIMEOUT_MS });
  } catch (e) {
    throw new Error(`cannot run the DNS hook ${hook}: ${(e as Error).message}`);
  }
  const [code, , stderr] = await Promise.all([proc.exited, new Response(proc.stdout).text(), new Response(proc.stderr).text()]);
  if (code !== 0) {
    const said = stderr.trim().split("\n").at(-1);
    throw new Error(`the DNS hook ${hook} ${action} ${record} exited with ${code}${said ? `: ${said}` : ""}`);
  }
}
