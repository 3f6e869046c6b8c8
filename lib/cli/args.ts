// Argument fragments shared by commands, so each flag is defined once, and how one flag's
// value is read: from the command line, else its WICKET_<FLAG> environment variable. A
// command's whole settings, with a config file and defaults, come from ./settings.ts.
import type { ArgsDef } from "citty";
import { isLoopbackHost } from "../net/address.ts";
import { dnsName } from "../net/dns-name.ts";
import { usageError } from "./exit.ts";
import { oneLine } from "./log.ts";
import { readCaFile } from "./values.ts";

export type Env = Record<string, string | undefined>;

export const logArgs = {
  loglevel: { type: "string", description: "silent | error | warn | info | debug", default: "info", valueHint: "level" },
  "log-format": { type: "string", description: "text | json", default: "text", valueHint: "format" },
} as const satisfies ArgsDef;

export const edgeArgs = {
  edge: { type: "string", description: "URL of the edge to connect to (env WICKET_EDGE); TLS still verifies the application hostname", valueHint: "url" },
  "ca-file": { type: "string", description: "extra CA certificate to trust, for edges with their own CA (env WICKET_CA_FILE)", valueHint: "file" },
} as const satisfies ArgsDef;

/** What every `wicket edge` admin command takes: logging, where the edge is, how to authenticate. */
export const adminArgs = {
  ...logArgs,
  ...edgeArgs,
  "admin-token": { type: "string", description: "admin API token (env WICKET_ADMIN_TOKEN)", valueHint: "token" },
  "data-dir": { type: "string", description: "edge data directory, to read the bootstrap admin token, CA and URL from", valueHint: "dir" },
  json: { type: "boolean", description: "print JSON for scripts", default: false },
} as const satisfies ArgsDef;

export const tokenArgs = {
  id: { type: "string", description: "service token id (env WICKET_SERVICE_TOKEN_ID or TUNNEL_SERVICE_TOKEN_ID)", valueHint: "id" },
  secret: { type: "string", description: "service token secret (env WICKET_SERVICE_TOKEN_SECRET or TUNNEL_SERVICE_TOKEN_SECRET)", valueHint: "secret" },
} as const satisfies ArgsDef;

/** A workload's ID token, exchanged at the edge; in GitHub Actions none is needed (lib/access/workload.ts). */
export const workloadArgs = {
  "oidc-token-file": { type: "string", description: "a file holding the job's OpenID Connect ID token (env WICKET_OIDC_TOKEN_FILE; or the token itself in WICKET_OIDC_TOKEN; found by itself in GitHub Actions)", valueHint: "file" },
} as const satisfies ArgsDef;

/** How a browser sign-in starts, for the commands that may need one. */
export const browserArgs = {
  browser: { type: "boolean", description: "open the sign-in page in the browser; --no-browser only prints its URL (env WICKET_NO_BROWSER=1)", default: true },
} as const satisfies ArgsDef;

/** The arguments every access command that reaches an application shares. */
export const appArgs = {
  hostname: { type: "string", description: "application hostname, e.g. ssh.example.com (in ssh_config: %h)", valueHint: "host" },
  ...tokenArgs,
  ...workloadArgs,
  ...browserArgs,
  ...edgeArgs,
  ...logArgs,
} as const satisfies ArgsDef;

/** The variable that stands for a flag: --ha-connections is WICKET_HA_CONNECTIONS. */
export const envName = (flag: string) => `WICKET_${flag.toUpperCase().replaceAll("-", "_")}`;

/** A value given on the command line or in the environment, and where: `--edge` or `WICKET_EDGE`. */
export interface Given {
  value: string | string[];
  where: string;
  from: "flag" | "env";
}

/** `args[flag]`, else WICKET_<FLAG>, else the aliases, in that order. With `rawArgs`, the flag
 * may be repeated and every value is kept. */
export function flagOrEnv(args: Record<string, unknown>, flag: string, opts: { env?: Env; aliases?: readonly string[]; rawArgs?: readonly string[] } = {}): Given | undefined {
  const value = args[flag];
  if (opts.rawArgs) {
    const all = repeatedFlag(opts.rawArgs, flag, value);
    if (all.length > 0) return { value: all, where: `--${flag}`, from: "flag" };
  } else if (typeof value === "string" && value !== "") return { value, where: `--${flag}`, from: "flag" };
  const env = opts.env ?? process.env;
  for (const name of [envName(flag), ...(opts.aliases ?? [])]) {
    const v = env[name];
    if (v) return { value: v, where: name, from: "env" };
  }
  return undefined;
}

/** A flag's value, else its WICKET_<FLAG> environment variable, else the aliases given. */
export function fromEnv(value: unknown, flag: string, ...aliases: string[]): string | undefined {
  return flagOrEnv({ [flag]: value }, flag, { aliases })?.value as string | undefined;
}

/** Whether a variable turns a switch on ("1" or "true"); anything else leaves it as it was. */
export const envFlag = (name: string, env: Env = process.env) => ["1", "true"].includes(env[name] ?? "");

// citty 0.2 keeps only the last value of a repeated string flag, so flags that may be given
// more than once are read from the raw arguments.
/** Every value of `--name V` / `--name=V` in `rawArgs` (up to `--`), else what citty parsed. */
export function repeatedFlag(rawArgs: readonly string[], name: string, parsed?: unknown): string[] {
  const values: string[] = [];
  const flag = `--${name}`;
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (a === "--") break;
    if (a === flag && i + 1 < rawArgs.length) values.push(rawArgs[++i]!);
    else if (a.startsWith(flag + "=")) values.push(a.slice(flag.length + 1));
  }
  if (values.length > 0) return values.filter((v) => v !== "");
  if (parsed === undefined || parsed === null || parsed === false) return [];
  return (Array.isArray(parsed) ? parsed : [parsed]).map(String).filter((v) => v !== "");
}

/** Whether `--name` appears at all in `rawArgs` (up to `--`), even with an empty value. */
export function flagGiven(rawArgs: readonly string[], name: string): boolean {
  const flag = `--${name}`;
  for (const a of rawArgs) {
    if (a === "--") return false;
    if (a === flag || a.startsWith(flag + "=")) return true;
  }
  return false;
}

/** An application hostname, checked: it goes into file names, ssh_config text and headers, so
 * nothing but a DNS name passes (no spaces, line breaks, slashes or shell characters). */
export function hostnameArg(raw: unknown, example = "wicket access login ssh.example.com"): string {
  if (!String(raw ?? "").trim()) throw usageError(`name the application, for example: ${example}`);
  const h = dnsName(String(raw));
  if (!h) throw usageError(`"${oneLine(String(raw)).slice(0, 100)}" is not a hostname; give a DNS name such as ssh.example.com`);
  return h;
}

/**
 * The edge's URL, checked: https (wss), or http only on this machine (a demo), since tokens
 * and secrets go to it; no user name or password in it (a path is ignored where it is used).
 */
export function edgeArg(raw: string | undefined): string | undefined {
  if (raw === undefined || raw === "") return undefined;
  const bad = (why: string) => usageError(`--edge ${oneLine(raw).slice(0, 200)} ${why}; give the edge's address, such as https://edge.example.com`);
  if (/[\s\x00-\x1f\x7f]/.test(raw)) throw bad("has spaces or control characters");
  const u = URL.parse(raw.includes("://") ? raw : `https://${raw}`);
  if (!u || !u.hostname) throw bad("is not a URL");
  if (u.username || u.password) throw bad("carries a user name or password");
  if (u.protocol !== "https:" && u.protocol !== "wss:") {
    if (u.protocol !== "http:" && u.protocol !== "ws:") throw bad(`has the scheme ${u.protocol}`);
    if (!isLoopbackHost(u.hostname)) throw bad("is plain http: credentials go to it, so it must be https (http only on 127.0.0.1 or localhost)");
  }
  return raw;
}

/** The edge and the extra CA from `edgeArgs` (or their variables), the CA file read. */
export async function edgeOf(args: { edge?: unknown; "ca-file"?: unknown }): Promise<{ edge?: string; ca?: string }> {
  return { edge: edgeArg(fromEnv(args.edge, "edge")), ca: await readCaFile(fromEnv(args["ca-file"], "ca-file")) };
}
