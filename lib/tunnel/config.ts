// `wicket tunnel --config tunnel.yaml`: every flag's key, plus an `ingress` list that maps
// hostnames to origins. Every error names the file, the line, the key and what is wrong.
//
//   edge: https://edge.example.com        # or a list of URLs
//   origincert: /etc/wicket/cert.pem
//   ha-connections: 4
//   ingress:
//     - hostname: ssh.example.com
//       service: ssh://localhost:22
//     - hostname: db.example.com
//       service: tcp://localhost:5432
//     - service: refuse                   # the catch-all, last
import { isMap, isScalar, isSeq, LineCounter, parseDocument, type Node, type Pair } from "yaml";
import { configError, WicketError } from "../cli/exit.ts";
import type { FileValue } from "../cli/settings.ts";
import { unreadable } from "../cli/values.ts";
import { parseIngressHostname, type Ingress } from "./ingress.ts";
import { parseOrigin, type Origin } from "./origin.ts";

export interface TunnelFile {
  path: string;
  values: Map<string, FileValue<string | string[]>>;
  /** `wheres[i]` says where rule i's hostname is, for errors found later (the zone check). */
  ingress?: { rules: Ingress[]; wheres: string[]; catchAll?: Origin; where: string };
}

/** The catch-all's service when streams for unlisted hostnames are to be refused
 * (cloudflared's `http_status:404` means the same here). */
export const REFUSE = "refuse";

/** Keys that hold a list of strings rather than one value. */
const LIST_KEYS = new Set(["edge"]);
/** Keys that only make sense on the command line. */
const FLAG_ONLY = new Set(["config"]);

export async function loadTunnelFile(path: string, keys: readonly string[]): Promise<TunnelFile> {
  let text: string;
  try {
    text = await Bun.file(path).text();
  } catch (err) {
    throw configError(`cannot read the config file ${path}: ${unreadable(err)}; check --config`);
  }
  return parseTunnelFile(text, path, keys);
}

export function parseTunnelFile(text: string, path: string, keys: readonly string[]): TunnelFile {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    const line = e.linePos?.[0].line ?? (e.pos ? lines.linePos(e.pos[0]).line : undefined);
    throw configError(`${path}${line ? `:${line}` : ""}: not valid YAML: ${e.message.split(/ at line \d+|:\n/)[0]}`);
  }
  const at = (node: Node | null | undefined) => (node?.range ? `${path}:${lines.linePos(node.range[0]).line}` : path);
  const fail = (node: Node | null | undefined, key: string, reason: string): never => {
    throw configError(`${at(node)}: ${key}: ${reason}`);
  };

  const out: TunnelFile = { path, values: new Map() };
  const root = doc.contents;
  if (root === null || (isScalar(root) && (root.value === null || root.value === ""))) return out; // an empty file sets nothing
  if (!isMap(root)) throw configError(`${at(root)}: the file must be a mapping of keys to values, like \`ha-connections: 4\``);

  const known = new Set([...keys.filter((k) => !FLAG_ONLY.has(k)), "ingress"]);
  for (const pair of root.items as Pair<Node, Node>[]) {
    const key = isScalar(pair.key) ? String(pair.key.value) : "";
    if (!known.has(key)) {
      const hint = [...known].find((k) => k.replaceAll("-", "") === key.toLowerCase().replace(/[-_]/g, ""));
      fail(pair.key, key || "(key)", FLAG_ONLY.has(key) ? "belongs on the command line, not in the file" : `unknown key${hint ? `; did you mean ${hint}?` : `; known keys: ${[...known].sort().join(", ")}`}`);
    }
    const where = `${at(pair.key)}: ${key}:`;
    if (key === "ingress") {
      out.ingress = { ...parseIngress(pair.value, key, fail, at), where };
      continue;
    }
    const v = pair.value;
    if (LIST_KEYS.has(key) && isSeq(v)) {
      const list = v.items.map((item, i) => scalarText(item as Node, `${key}[${i}]`, fail));
      if (list.length === 0) fail(v, key, "is an empty list; give at least one URL or leave the key out");
      out.values.set(key, { value: list, where });
      continue;
    }
    out.values.set(key, { value: scalarText(v, key, fail), where });
  }
  return out;
}

type Fail = (node: Node | null | undefined, key: string, reason: string) => never;

function scalarText(node: Node | null | undefined, key: string, fail: Fail): string {
  if (!isScalar(node) || node.value === null || typeof node.value === "object") return fail(node, key, "needs a single value (text, number or true/false)");
  return String(node.value);
}

function parseIngress(node: Node | null | undefined, key: string, fail: Fail, at: (n: Node | null | undefined) => string): { rules: Ingress[]; wheres: string[]; catchAll?: Origin } {
  if (!isSeq(node) || node.items.length === 0) return fail(node, key, "must be a list of rules, each `- hostname: H` with `service: ssh://host:port`, ending with a catch-all `- service: refuse`");
  const rules: Ingress[] = [];
  const wheres: string[] = [];
  const seen = new Set<string>();
  let catchAll: Origin | undefined;
  node.items.forEach((item, i) => {
    const name = `${key}[${i}]`;
    const last = i === node.items.length - 1;
    if (!isMap(item)) return fail(item as Node, name, "must be a mapping with `hostname` and `service`");
    let hostname: string | undefined;
    let service: { text: string; node: Node } | undefined;
    for (const pair of item.items as Pair<Node, Node>[]) {
      const k = isScalar(pair.key) ? String(pair.key.value) : "";
      if (k === "hostname") hostname = scalarText(pair.value, `${name}.hostname`, fail);
      else if (k === "service") service = { text: scalarText(pair.value, `${name}.service`, fail), node: pair.value! };
      else fail(pair.key, `${name}.${k}`, "unknown key; a rule has `hostname` and `service`");
    }
    if (!service) return fail(item as Node, `${name}.service`, "is missing; say where streams go, for example `service: ssh://localhost:22`");
    if (hostname === undefined) {
      if (!last) return fail(item as Node, name, "a rule without hostname is the catch-all and must come last; give it a hostname or move it to the end");
      const refuse = service.text === REFUSE || /^http_status:\d+$/.test(service.text);
      catchAll = refuse ? undefined : originAt(service.text, `${at(service.node)}: ${name}.service:`);
      return;
    }
    if (last) return fail(item as Node, name, "the last rule must be a catch-all without hostname; add `- service: refuse` (or an origin) at the end");
    const host = withWhere(() => parseIngressHostname(hostname!), `${at(item as Node)}: ${name}.hostname:`);
    if (seen.has(host)) return fail(item as Node, `${name}.hostname`, `${host} is listed twice; each hostname goes to one origin`);
    seen.add(host);
    if (service.text === REFUSE) return fail(service.node, `${name}.service`, `"${REFUSE}" is only for the catch-all; give an origin such as ssh://localhost:22`);
    rules.push({ hostname: host, origin: originAt(service.text, `${at(service.node)}: ${name}.service:`) });
    wheres.push(`${at(item as Node)}: ${name}.hostname:`);
  });
  if (rules.length === 0) return fail(node, key, "has only a catch-all; add at least one rule with a hostname");
  return { rules, wheres, catchAll };
}

const originAt = (raw: string, where: string) => withWhere(() => parseOrigin(raw, where), where);

/** Runs a parser whose errors already carry `where`, and makes them configuration errors. */
function withWhere<T>(f: () => T, where: string): T {
  try {
    return f();
  } catch (err) {
    if (!(err instanceof WicketError)) throw err;
    throw configError(err.message.startsWith(where) ? err.message : `${where} ${err.message}`);
  }
}
