// `wicket tunnel doctor`: what `wicket tunnel` would run with, checked hop by hop on the
// server — the settings, the credential (and, asked of the edge, whether it is still live and
// when it expires), each edge it would connect to (TCP and TLS), each ingress rule's origin
// dialled (an ssh:// origin must answer with an SSH banner), and the local metrics address.
import { EXIT, deniedError } from "../cli/exit.ts";
import { httpClient, isRefusal, requestError } from "../cli/http.ts";
import { parseHostPort, readCaFile } from "../cli/values.ts";
import { resolveEdgeTargets } from "../tunnel/edges.ts";
import { connectorCredential, type ConnectorCredential } from "../tunnel/named.ts";
import type { Origin } from "../tunnel/origin.ts";
import { resolveSettings, type TunnelSettings } from "../tunnel/settings.ts";
import type { DoctorAnswer } from "../wire/doctor.ts";
import { DOCTOR_PATH } from "../wire/http.ts";
import { bannerOf } from "./banner.ts";
import { fail, pass, skipped, timed, walk, type Hop, type Outcome } from "./hop.ts";
import { checkReach, checkTls, endpointOf, REACH_TIMEOUT_MS } from "./reach.ts";

export type TunnelDoctorOptions = {
  args: Record<string, unknown>;
  rawArgs: string[];
  /** A named tunnel: its token (`tunnel token`), or its name or id with credentials in ~/.wicket. */
  token?: string;
  name?: string;
  all?: boolean;
};

const credentialOf = (o: TunnelDoctorOptions, s: TunnelSettings) => connectorCredential({ token: o.token, name: o.name, origincert: s.origincert });

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

/** An origin dialled as the connector would: an ssh:// one must say `SSH-…` first. */
async function checkOrigin(o: Origin): Promise<Outcome> {
  const fix = `start the service at ${o.hostname}:${o.port}, or correct --url / the ingress rule`;
  if (!o.url.startsWith("ssh:")) {
    const r = await checkReach(o.hostname, o.port, o.hostname, `check the host in ${o.url}`);
    return "reason" in r ? fail(r.reason, fix, EXIT.temporary) : pass(`${o.url}: ${r.detail}`);
  }
  try {
    const b = await bannerOf(o.hostname, o.port);
    if ("ssh" in b) return pass(`${o.url} says ${JSON.stringify(b.ssh)}`);
    const what = "other" in b ? `it sent ${b.other}` : "silent" in b ? "it sent nothing within 1.5 s, and an SSH server speaks first" : "it closed the connection without a word";
    return fail(`${o.url} is not an SSH server: ${what}`, `point the rule at sshd, or use tcp:// for another service`, EXIT.config);
  } catch (e) {
    return fail(`cannot connect to ${o.url} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, fix, EXIT.temporary);
  }
}

/** What answers on the metrics address: a tunnel already running, nothing (free), or something else. */
async function checkMetrics(addr: string | undefined): Promise<Outcome> {
  if (!addr) return pass("no --metrics address: /metrics and /ready are off");
  const { hostname, port } = parseHostPort(addr, "--metrics");
  const host = hostname === "0.0.0.0" ? "127.0.0.1" : hostname === "::" ? "::1" : hostname;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}/ready`;
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(REACH_TIMEOUT_MS) });
    const body = await r.text();
    return pass(`${addr}: something answers /ready with ${r.status} ${body.trim().slice(0, 200)} (a running tunnel's, or the address is taken)`);
  } catch {
    return pass(`${addr} is free: the tunnel will serve /metrics, /ready and /healthz there`);
  }
}

export async function diagnoseTunnel(o: TunnelDoctorOptions): Promise<Hop[]> {
  let s: TunnelSettings | undefined;
  let cred: ConnectorCredential | undefined;
  let ca: string | undefined;
  let reachable: { url: string; address: string; servername: string } | undefined;
  const steps: (() => Promise<Hop | Hop[] | undefined>)[] = [];

  const settings = () =>
    timed("settings", async () => {
      s = await resolveSettings(o.args, o.rawArgs);
      const routes = s.ingress.map((i) => `${i.hostname} -> ${i.origin.url}`).join(", ");
      return pass(`${routes}${s.catchAll ? `, anything else -> ${s.catchAll.url}` : ""}${s.configFile ? ` (config ${s.configFile})` : ""}`);
    }, "correct the flag or the line of the file the reason names");
  const credential = () =>
    !s
      ? Promise.resolve(skipped("credential", "no settings"))
      : timed("credential", async () => {
          cred = await credentialOf(o, s!);
          ca = (await readCaFile(s!.caFile)) ?? cred.caPem;
          s!.ingress.forEach(({ hostname }, i) => {
            if (hostname !== cred!.zone && !hostname.endsWith(`.${cred!.zone}`)) throw deniedError(`${s!.ingressWhere[i]} ${hostname} is outside the zone ${cred!.zone} of ${cred!.source}`);
          });
          return pass(`${cred.source}, zone ${cred.zone}, edge ${cred.edge}`);
        }, "use a credential of the zone the hostnames lie in (`wicket tunnel login`), or hostnames under its zone");

  /** One hop per address an edge resolves to: TCP, then TLS. */
  async function edges(): Promise<Hop[]> {
    if (!s || !cred) return [skipped("edge", "no credential")];
    const targets = await resolveEdgeTargets(s.edges ?? [cred.edge]);
    const out: Hop[] = [];
    for (const t of targets) {
      out.push(
        await timed(`edge ${t.label}`, async () => {
          const ep = endpointOf(t.wsUrl);
          const servername = t.servername ?? ep.host;
          const r = await checkReach(ep.host, ep.port, t.label, "check the edge's URL (--edge, or the one in the credential)");
          if ("reason" in r) return r;
          const tls = ep.tls ? await checkTls(r.address!, ep.port, servername, ca, s!.caFile) : pass("plain HTTP");
          if ("reason" in tls) return tls;
          reachable ??= { url: t.wsUrl.replace(/^ws/, "http"), address: r.address!, servername };
          return pass(`${r.detail}; ${tls.detail}`);
        }),
      );
      if (!out.at(-1)!.ok && !o.all) break;
    }
    return out;
  }

  const liveness = () =>
    !reachable || !cred
      ? Promise.resolve(skipped("credential at the edge", "no edge reachable"))
      : timed("credential at the edge", async () => {
          const url = new URL(DOCTOR_PATH, reachable!.url).toString();
          let a: DoctorAnswer;
          try {
            a = await httpClient({ ca })<DoctorAnswer>(url, { headers: { authorization: `Bearer ${cred!.id}.${cred!.secret}` }, responseType: "json" });
          } catch (e) {
            if (isRefusal(e) && e.response.status === 404) return pass("the edge does not say (it is older than this client); the tunnel's own log will");
            throw requestError(e, { where: `the edge at ${reachable!.url}`, ca });
          }
          const c = a.credential;
          if (!c) return pass(`the edge (${a.edge.version}) did not check the credential`);
          if ("refused" in c) return fail(c.refused, cred!.source.startsWith("tunnel") ? "get the tunnel's credentials again (`wicket tunnel token NAME` where it was created, or `--rotate` for a new secret), or create it again" : "run `wicket tunnel login` for a new zone credential", EXIT.denied);
          const expiry = c.expiresAt ? `, expires ${iso(c.expiresAt)} (in ${Math.floor((c.expiresAt - Date.now()) / 86_400_000)} days)` : "";
          return pass(`live: ${c.kind === "tunnel" ? `tunnel ${c.tunnel}` : `zone credential ${c.id}${c.obtainedBy ? ` of ${c.obtainedBy}` : ""}`} in zone ${c.zone}${expiry}; edge ${a.edge.version}, protocol ${a.edge.protocol}`);
        });

  const origins = async (): Promise<Hop[]> => {
    if (!s) return [skipped("origin", "no settings")];
    const rules = [...s.ingress.map((r) => ({ label: r.hostname, origin: r.origin })), ...(s.catchAll ? [{ label: "catch-all", origin: s.catchAll }] : [])];
    const out: Hop[] = [];
    for (const r of rules) {
      out.push(await timed(`origin ${r.label}`, () => checkOrigin(r.origin)));
      if (!out.at(-1)!.ok && !o.all) break;
    }
    return out;
  };

  steps.push(settings, credential, edges, liveness, origins, () => timed("metrics", () => checkMetrics(s?.metrics)));
  return walk(steps, o.all ?? false);
}
