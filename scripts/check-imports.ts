// Checks the imports of lib/ and commands/; `bun run test` runs it before the build.
//  - No cycle among the relative imports. Type-only imports count: a cycle of types still
//    ties two layers together, and the next value import along it makes one module see the
//    other half-initialised.
//  - The client's commands (access, tunnel, doctor: every command but edge*) load neither
//    lib/store/ nor lib/edge/ when they start: `access ssh` starts for every ssh connection.
//    Type-only and lazy (`import()`) imports are free, as at run time.
// The layers, lowest first, that a module imports downwards from: lib/net, lib/cli (exit,
// log, values, args), lib/wire, lib/paths, lib/policy, lib/ssh, lib/auth/secret.ts; lib/store;
// the clients lib/access, lib/admin-client, lib/tunnel, lib/doctor; lib/edge; commands/.
// Where one imports upwards, a comment at the import says why.
//
//   bun scripts/check-imports.ts [root]     exit 0: all well; 1: each problem printed
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const ROOTS = ["lib", "commands"];

/** Every .ts file under `dir`. */
function sources(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...sources(p));
    else if (e.name.endsWith(".ts") && !e.name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** The source without comments, so an import named in a comment is no import. Strings are kept
 * (a `//` inside one is not a comment). */
function withoutComments(text: string): string {
  return text.replace(/("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`)|\/\*[\s\S]*?\*\/|\/\/[^\n]*/g, (m, str: string | undefined) => str ?? " ");
}

/** The relative specifiers a module imports or re-exports, type-only ones too; a static
 * import starts its line, as everywhere in this repository. */
export function importsOf(text: string): string[] {
  const code = withoutComments(text);
  const found: string[] = [];
  const patterns = [
    /^[ \t]*(?:import|export)\s+(?:type\s+)?[^;"'`]*?\bfrom\s*["'](\.{1,2}\/[^"']+)["']/gm, // import … from, export … from
    /^[ \t]*import\s*["'](\.{1,2}\/[^"']+)["']/gm, // import "./x.ts" (side effects)
    /\bimport\s*\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g, // import("./x.ts"), also in types
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) found.push(m[1]!);
  return found;
}

/** The module graph: file → the files it imports (those inside the roots). */
export function importGraph(root: string): Map<string, string[]> {
  const files = ROOTS.flatMap((r) => sources(join(root, r)));
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const targets = importsOf(readFileSync(f, "utf8")).map((s) => resolve(dirname(f), s));
    graph.set(f, [...new Set(targets.filter((t) => known.has(t)))]);
  }
  return graph;
}

/** Each import cycle once, as the files along it (Tarjan's strongly connected components, then
 * one shortest cycle through each component's first file). */
export function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const order = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (v: string) => {
    order.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!order.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, order.get(w)!));
    }
    if (low.get(v) === order.get(v)) {
      const c: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        c.push(w);
      } while (w !== v);
      if (c.length > 1 || (graph.get(v) ?? []).includes(v)) components.push(c);
    }
  };
  for (const v of [...graph.keys()].sort()) if (!order.has(v)) visit(v);
  return components.map((c) => shortestCycle(graph, c.sort()[0]!, new Set(c)));
}

/** The shortest path from `start` back to itself inside `within` (breadth first). */
function shortestCycle(graph: Map<string, string[]>, start: string, within: Set<string>): string[] {
  const from = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!within.has(w)) continue;
      if (w === start) {
        const path = [v];
        while (path[0] !== start) path.unshift(from.get(path[0]!)!);
        return [...path, start];
      }
      if (!from.has(w)) {
        from.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

const transpiler = new Bun.Transpiler({ loader: "ts" });

/** What a module loads when it is loaded: its static value imports (Bun drops the type-only ones). */
function loadedBy(file: string): string[] {
  const text = readFileSync(file, "utf8").replace(/^#!.*/, "");
  return transpiler
    .scanImports(text)
    .filter((i) => i.kind !== "dynamic-import" && /^\.{1,2}\//.test(i.path) && i.path.endsWith(".ts"))
    .map((i) => resolve(dirname(file), i.path));
}

/** For each client command, the first chain of static imports by which it loads lib/store/ or lib/edge/. */
export function serverCodeInClients(root: string): string[][] {
  const server = [join(root, "lib", "store") + "/", join(root, "lib", "edge") + "/"];
  const clients = readdirSync(join(root, "commands")).filter((f) => f.endsWith(".ts") && !f.startsWith("edge") && !f.startsWith("_"));
  const found: string[][] = [];
  for (const c of clients) {
    const start = join(root, "commands", c);
    const from = new Map<string, string>([[start, start]]);
    const queue = [start];
    while (queue.length > 0) {
      const f = queue.shift()!;
      if (server.some((s) => f.startsWith(s))) {
        const chain = [f];
        while (chain[0] !== start) chain.unshift(from.get(chain[0]!)!);
        found.push(chain);
        break;
      }
      for (const t of loadedBy(f)) if (!from.has(t)) from.set(t, f), queue.push(t);
    }
  }
  return found;
}

if (import.meta.main) {
  const root = resolve(process.argv[2] ?? join(import.meta.dir, ".."));
  const rel = (fs: string[]) => fs.map((f) => relative(root, f)).join(" -> ");
  const found = cycles(importGraph(root));
  for (const c of found) console.error(`import cycle: ${rel(c)}`);
  if (found.length > 0) console.error(`${found.length} import cycle${found.length === 1 ? "" : "s"} in ${ROOTS.join("/ and ")}/: move what both sides need into a lower module`);
  const heavy = serverCodeInClients(root);
  for (const chain of heavy) console.error(`a client command loads server code: ${rel(chain)}; move what it needs below lib/store and lib/edge, or import it lazily`);
  if (found.length > 0 || heavy.length > 0) process.exitCode = 1;
}
