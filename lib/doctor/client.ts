// `wicket doctor`: the path from this machine to an application's SSH server, hop by hop —
// name and TCP, TLS and the edge's version, the application, the credentials, the policy,
// a connector, the origin's SSH banner through the tunnel, and ~/.ssh/config. The edge answers
// hops 3–6 at DOCTOR_PATH for the caller's own credentials. Never opens a browser, never
// prints a secret or a token.
import { readFileSync } from "node:fs";
import { ClosedError, appHeaders, appOrigin, appTls, dialApp, type DialOptions } from "../access/dial.ts";
import { jwtClaims } from "../auth/jwt-claims.ts";
import { appToken } from "../access/signin.ts";
import { EXIT } from "../cli/exit.ts";
import { httpClient, requestError } from "../cli/http.ts";
import { version } from "../cli/run.ts";
import { appTokenPath } from "../paths.ts";
import { decisionMessage } from "../policy/evaluate.ts";
import { Close } from "../wire/close.ts";
import type { DoctorAnswer } from "../wire/doctor.ts";
import { PROTOCOL_VERSION } from "../wire/frame.ts";
import { DOCTOR_PATH } from "../wire/http.ts";
import { bannerThrough } from "./banner.ts";
import { fail, pass, skipped, timed, walk, type Hop, type Outcome } from "./hop.ts";
import { checkReach, checkTls, endpointOf } from "./reach.ts";
import { checkSshConfig } from "./ssh-config.ts";

export type AppDoctorOptions = DialOptions & {
  /** Where the CA came from (--ca-file), named in advice. */
  caFile?: string;
  /** Go on after a failure. */
  all?: boolean;
  /** The ssh_config to compare (default ~/.ssh/config). */
  sshConfig?: string;
};

/** What the doctor learns on the way, for the hops after. */
type Found = { address?: string; answer?: DoctorAnswer; credential?: Pick<DialOptions, "serviceToken" | "appToken">; credentialNote?: string; authed?: DoctorAnswer };

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

/** Asks the edge at DOCTOR_PATH, as the application's hostname, with the credentials given. */
async function ask(opts: DialOptions): Promise<DoctorAnswer> {
  try {
    return await httpClient(appTls(opts))<DoctorAnswer>(`${appOrigin(opts)}${DOCTOR_PATH}`, { headers: appHeaders(opts), responseType: "json" });
  } catch (e) {
    throw requestError(e, { where: opts.edge ? `the edge at ${opts.edge}` : opts.hostname, ...appTls(opts) });
  }
}

/** The credential `access ssh` would use: the service token, else a cached or session-minted app token; never a browser. */
async function credentialOf(opts: DialOptions, found: Found): Promise<Outcome | undefined> {
  if (opts.serviceToken) {
    found.credential = { serviceToken: opts.serviceToken };
    found.credentialNote = `id ${opts.serviceToken.id}`;
    return undefined;
  }
  let cachedExp: number | undefined;
  try {
    cachedExp = jwtClaims(readFileSync(appTokenPath(opts.hostname), "utf8").trim())?.exp;
  } catch {}
  try {
    const token = await appToken({ hostname: opts.hostname, edge: opts.edge, ca: opts.ca, browser: "never" });
    found.credential = { appToken: token };
    found.credentialNote = jwtClaims(token)?.exp === cachedExp ? "the cached token" : "a token from this machine's sign-in session";
    return undefined;
  } catch (e) {
    const login = `run \`wicket access login ${opts.hostname}\` (or pass a service token with --id and --secret)`;
    if (cachedExp !== undefined && cachedExp * 1000 <= Date.now() + 30_000) {
      return fail(`the cached token for ${opts.hostname} expired at ${iso(cachedExp * 1000)}, and there is no sign-in session to renew it`, login, EXIT.denied);
    }
    if ((e as { exitCode?: number }).exitCode === EXIT.denied) return fail(`not signed in to ${opts.hostname}`, login, EXIT.denied);
    throw e;
  }
}

export async function diagnoseApp(opts: AppDoctorOptions): Promise<Hop[]> {
  const host = opts.hostname;
  const origin = appOrigin(opts);
  const ep = endpointOf(origin);
  const found: Found = {};
  const needs = (hop: string, ok: boolean, what: string, check: () => Promise<Outcome>, fix?: string) => (ok ? timed(hop, check, fix) : Promise.resolve(skipped(hop, what)));

  const steps = [
    () =>
      timed("resolve", async () => {
        const r = await checkReach(ep.host, ep.port, opts.edge ? `the edge at ${opts.edge}` : host, opts.edge ? "check the --edge URL" : `check the hostname; where ${host} has no DNS record, pass --edge with the edge's URL`);
        found.address = r.address;
        return r;
      }),
    () =>
      needs("tls", found.address !== undefined, "the edge is not reachable", async () => {
        const tls = ep.tls ? await checkTls(found.address!, ep.port, host, opts.ca, opts.caFile) : pass("plain HTTP, no TLS (an edge behind a proxy that terminates TLS)");
        if ("reason" in tls) return tls;
        const a = (found.answer = await ask({ ...opts, serviceToken: undefined, appToken: undefined }));
        const versions = `edge ${a.edge.version}, protocol ${a.edge.protocol}; this client ${version}, protocol ${PROTOCOL_VERSION}`;
        if (a.edge.protocol !== PROTOCOL_VERSION) return fail(`the edge speaks protocol ${a.edge.protocol}, this client ${PROTOCOL_VERSION}`, "upgrade the older of the two", EXIT.unreachable, versions);
        return pass(`${tls.detail}; ${versions}`);
      }, "upgrade the edge if it does not answer the doctor; see the reason"),
    () =>
      needs("application", found.answer !== undefined, "the edge did not answer", async () =>
        found.answer!.app ? pass(`${host} is served by the application ${found.answer!.app.hostname}`) : fail(`the edge serves no application at ${host}`, `check the hostname; an admin adds it with \`wicket edge app add ${host}\``, EXIT.config),
      ),
    () =>
      needs("credentials", found.answer?.app != null, "no application to present them to", async () => {
        const missing = await credentialOf(opts, found);
        if (missing) return missing;
        const a = (found.authed = await ask({ ...opts, ...found.credential }));
        const id = a.identity;
        const fix = opts.serviceToken ? "check --id and --secret (or WICKET_SERVICE_TOKEN_ID/_SECRET); `wicket edge token list` shows the tokens" : `run \`wicket access login ${host}\``;
        if (!id) return fail("the edge did not say who these credentials are", "upgrade the edge", EXIT.bug);
        if ("refused" in id) return fail(id.refused, fix, EXIT.denied, found.credentialNote);
        return pass(`${id.kind === "service-token" ? `service token ${id.name.replace(/^token:/, "")}` : `signed in as ${id.name}`} (${found.credentialNote}${id.expiresAt ? `, valid until ${iso(id.expiresAt)}` : ""})`);
      }),
    () =>
      needs("policy", found.authed?.decision !== undefined, "no identity", async () => {
        const d = found.authed!.decision!;
        const said = decisionMessage(host, d);
        if (d.allowed) return pass(said);
        const who = opts.serviceToken ? `--token ${found.authed!.identity && "name" in found.authed!.identity ? found.authed!.identity.name.replace(/^token:/, "") : opts.serviceToken.id}` : `--email <your e-mail>`;
        return fail(said, `ask an admin to change ${d.policy ? `policy "${d.policy.name}"` : `the policies of ${host}`}; \`wicket edge policy test ${host} ${who}\` shows the decision`, EXIT.denied);
      }),
    () =>
      needs("connector", found.authed?.decision?.allowed === true, "not allowed through", async () => {
        const c = found.authed!.connectors;
        if (!c) return fail("the edge did not say how many connectors serve it", "upgrade the edge", EXIT.bug);
        const elsewhere = (c.nodes ?? []).reduce((n, x) => n + x.connections, 0);
        if (c.here + elsewhere === 0) return fail(`no connector is online for ${host}`, `on the server, start one: \`wicket tunnel --hostname ${host} --url ssh://localhost:22\`; \`wicket tunnel doctor\` there checks it`, EXIT.temporary);
        const nodes = c.nodes?.length ? `; on other nodes: ${c.nodes.map((n) => `${n.id} (${n.connections})`).join(", ")}` : "";
        return pass(`${c.here} connection(s) on this node${c.tunnels.length ? ` from tunnel ${c.tunnels.join(", ")}` : ""}${nodes}`);
      }),
    () =>
      needs("origin", found.credential !== undefined && found.authed?.decision?.allowed === true, "not allowed through", async () => {
        const serverFix = "on the server, point the tunnel's --url at sshd (ssh://localhost:22); `wicket tunnel doctor` there dials each origin";
        try {
          const ws = await dialApp({ ...opts, ...found.credential, connectTimeoutMs: 5_000 });
          const b = await bannerThrough(ws, host);
          if ("ssh" in b) return pass(`the origin answers through the tunnel: ${JSON.stringify(b.ssh)}`);
          const notSsh = `; if ${host} serves another protocol on purpose, this hop does not apply`;
          if ("other" in b) return fail(`the origin is not an SSH server: it sent ${b.other}`, serverFix + notSsh, EXIT.config);
          if ("silent" in b) return fail("the origin sent nothing within 1.5 s, and an SSH server speaks first", serverFix + notSsh, EXIT.config);
          return fail("the origin closed the connection without sending anything", serverFix, EXIT.temporary);
        } catch (e) {
          const code = e instanceof ClosedError ? e.code : undefined;
          if (code === Close.originUnreachable) {
            return fail((e as Error).message, "on the server, is sshd running where the tunnel's --url points? `wicket tunnel doctor` there dials each origin", EXIT.temporary);
          }
          throw e;
        }
      }),
    () => needs("ssh-config", true, "", () => checkSshConfig({ hostname: host, edge: opts.edge, caFile: opts.caFile }, found.authed, opts.sshConfig)),
  ];
  return walk(steps, opts.all ?? false);
}
