// The first two hops to any edge: its name resolves and something accepts TCP there; then TLS,
// with the chain, the name and the expiry of the certificate it shows. Shared by `wicket
// doctor` (an application's hostname, or --edge) and `wicket tunnel doctor` (each edge).
import { lookup } from "node:dns/promises";
import { connect as tcpConnect, isIP } from "node:net";
import { checkServerIdentity, connect as tlsConnect, rootCertificates, type PeerCertificate } from "node:tls";
import { EXIT } from "../cli/exit.ts";
import { unbracket } from "../net/address.ts";
import { fail, pass, type Outcome } from "./hop.ts";

export const REACH_TIMEOUT_MS = 3_000;

/** Where to connect: the URL's host and port (443 for https). */
export function endpointOf(url: string): { host: string; port: number; tls: boolean } {
  const u = new URL(url);
  const tls = u.protocol === "https:" || u.protocol === "wss:";
  return { host: unbracket(u.hostname), port: u.port ? Number(u.port) : tls ? 443 : 80, tls };
}

function connectTcp(address: string, port: number, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = tcpConnect({ host: address, port });
    const timer = setTimeout(() => {
      s.destroy();
      reject(Object.assign(new Error("timed out"), { code: "ETIMEDOUT" }));
    }, timeoutMs);
    s.once("connect", () => {
      clearTimeout(timer);
      s.end();
      resolve();
    });
    s.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

/** Hop 1: `host` resolves, and one of its addresses accepts a TCP connection on `port`. `named` says what the host is in sentences. */
export async function checkReach(host: string, port: number, named: string, fixUnresolved: string): Promise<Outcome & { address?: string }> {
  let addresses: string[];
  if (isIP(host)) addresses = [host];
  else {
    try {
      addresses = [...new Set((await lookup(host, { all: true })).map((a) => a.address))];
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? "";
      return fail(`${host} does not resolve (${code || (e as Error).message})`, fixUnresolved, EXIT.unreachable);
    }
  }
  const errors: string[] = [];
  for (const a of addresses) {
    try {
      await connectTcp(a, port, REACH_TIMEOUT_MS);
      const shown = isIP(a) === 6 ? `[${a}]:${port}` : `${a}:${port}`;
      return { ...pass(`${host === a ? "" : `${host} is ${addresses.join(", ")}; `}TCP to ${shown} accepted`), address: a };
    } catch (e) {
      errors.push(`${a}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  return fail(`nothing accepts TCP connections at ${named} port ${port} (${errors.join("; ")})`, "is the edge running and listening there? check --edge, and any firewall between here and it", EXIT.unreachable);
}

const days = (ms: number) => Math.floor(ms / 86_400_000);

/**
 * Hop 2: a TLS handshake with `address`, checking the chain (with `ca` as well as the system's
 * CAs), that the certificate names `servername`, and its expiry.
 */
export function checkTls(address: string, port: number, servername: string, ca: string | undefined, caFile: string | undefined): Promise<Outcome> {
  const sni = isIP(servername) ? undefined : servername;
  return new Promise((resolve) => {
    const s = tlsConnect({ host: address, port, servername: sni, rejectUnauthorized: false, ...(ca ? { ca: [...rootCertificates, ca] } : {}) });
    const timer = setTimeout(() => {
      s.destroy();
      resolve(fail(`no TLS handshake with ${servername} within ${REACH_TIMEOUT_MS / 1000} s`, "is this a TLS port of a wicket edge? an http:// edge needs --edge http://…", EXIT.unreachable));
    }, REACH_TIMEOUT_MS);
    s.once("error", (e) => {
      clearTimeout(timer);
      resolve(fail(`the TLS handshake with ${servername} failed (${(e as NodeJS.ErrnoException).code ?? e.message})`, "is this a TLS port of a wicket edge? an http:// edge needs --edge http://…", EXIT.unreachable));
    });
    s.once("secureConnect", () => {
      clearTimeout(timer);
      const cert = s.getPeerCertificate() as PeerCertificate | undefined;
      const chainError = s.authorized ? undefined : String(s.authorizationError ?? "unknown error");
      s.end();
      resolve(judge(cert, chainError, servername, caFile));
    });
  });
}

function judge(cert: PeerCertificate | undefined, chainError: string | undefined, servername: string, caFile: string | undefined): Outcome {
  if (!cert || !cert.valid_to) return fail(`${servername} showed no certificate`, "is this a wicket edge?", EXIT.unreachable);
  const issuer = cert.issuer?.CN ?? cert.issuer?.O ?? "unknown issuer";
  const until = new Date(cert.valid_to);
  if (until.getTime() <= Date.now()) return fail(`the certificate of ${servername} expired on ${until.toISOString()}`, "the edge's operator must renew its certificate (a self-signed edge re-issues on restart)", EXIT.unreachable);
  if (chainError) {
    const withCa = caFile ? ` even with the CA in ${caFile}` : "";
    const fix = caFile ? `--ca-file must be the CA of this edge (its data directory's ca.pem)` : "pass the edge's CA with --ca-file (ca.pem in its data directory, or what its operator gives you)";
    return fail(`the certificate of ${servername} (issued by ${issuer}) is not trusted${withCa}: ${chainError}`, fix, EXIT.unreachable);
  }
  const mismatch = checkServerIdentity(servername, cert);
  if (mismatch) return fail(`the certificate shown is not valid for ${servername} (${mismatch.message})`, `is ${servername} served by this edge? an application's hostname must lie in one of the edge's zones`, EXIT.unreachable);
  return pass(`certificate for ${servername} by ${issuer}, trusted, expires ${until.toISOString().slice(0, 10)} (in ${days(until.getTime() - Date.now())} days)`);
}
