// scripts/check-imports.ts, which `npm test` runs before the build: it finds import cycles
// (type-only imports included) and client commands that load the store or the edge.
import { describe, expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cycles, importGraph, importsOf, serverCodeInClients } from "../scripts/check-imports.ts";
import { tempDir } from "./helpers/tmp.ts";

/** A tree of modules: path → source. */
async function tree(files: Record<string, string>) {
  const dir = await tempDir("wicket-imports-");
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir.path, path, ".."), { recursive: true });
    writeFileSync(join(dir.path, path), text);
  }
  mkdirSync(join(dir.path, "commands"), { recursive: true });
  return dir;
}

describe("the import check", () => {
  test("reads every kind of relative import, and none in comments or strings", () => {
    const text = [
      `import type { A } from "./a.ts";`,
      `import { type B, C } from "../b.ts";`,
      `export { D } from "./d.ts";`,
      `import "./e.ts";`,
      `const f = await import("./f.ts");`,
      `import {\n  G,\n  H,\n} from "./g.ts";`,
      `// import { X } from "./comment.ts";`,
      `/* import { Y } from "./block.ts"; */`,
      `const s = "import { Z } from './string.ts'";`,
      `import { readFileSync } from "node:fs";`,
    ].join("\n");
    expect(importsOf(text).sort()).toEqual(["../b.ts", "./a.ts", "./d.ts", "./e.ts", "./f.ts", "./g.ts"]);
  });

  test("finds a cycle that runs through a type-only import, and none in a tree without one", async () => {
    await using cyclic = await tree({
      "lib/cli/args.ts": `import type { Mode } from "../access/connect.ts";\nexport const a = 1;`,
      "lib/access/connect.ts": `import { b } from "./oauth.ts";\nexport type Mode = string;`,
      "lib/access/oauth.ts": `import { a } from "../cli/args.ts";\nexport const b = a;`,
      "lib/net/address.ts": `export const c = 1;`,
    });
    const found = cycles(importGraph(cyclic.path)).map((c) => c.map((f) => f.slice(cyclic.path.length + 1)));
    expect(found).toEqual([["lib/access/connect.ts", "lib/access/oauth.ts", "lib/cli/args.ts", "lib/access/connect.ts"]]);

    await using clean = await tree({
      "lib/cli/args.ts": `import { c } from "../net/address.ts";`,
      "lib/access/oauth.ts": `import { c } from "../net/address.ts";\nimport "../cli/args.ts";`,
      "lib/net/address.ts": `export const c = 1;`,
    });
    expect(cycles(importGraph(clean.path))).toEqual([]);
  });

  test("finds a client command that loads the store, and lets types and lazy imports through", async () => {
    await using dir = await tree({
      "commands/tunnel.ts": `import { p } from "../lib/tunnel/named.ts";\nconsole.log(p);`,
      "commands/access-ssh.ts": `import type { Store } from "../lib/store/open.ts";\nconst e = () => import("../lib/edge/server.ts");\nexport const x: Store | undefined = undefined;\nconsole.log(e);`,
      "commands/edge-serve.ts": `import { s } from "../lib/edge/server.ts";\nconsole.log(s);`,
      "lib/tunnel/named.ts": `import { TUNNEL_ID_PREFIX } from "../store/tunnels.ts";\nexport const p = TUNNEL_ID_PREFIX;`,
      "lib/store/tunnels.ts": `export const TUNNEL_ID_PREFIX = "wtn_";`,
      "lib/store/open.ts": `export type Store = object;`,
      "lib/edge/server.ts": `export const s = 1;`,
    });
    const chains = serverCodeInClients(dir.path).map((c) => c.map((f) => f.slice(dir.path.length + 1)));
    expect(chains).toEqual([["commands/tunnel.ts", "lib/tunnel/named.ts", "lib/store/tunnels.ts"]]);
  });

  test("passes on this repository", () => {
    const root = join(import.meta.dir, "..");
    expect(cycles(importGraph(root))).toEqual([]);
    expect(serverCodeInClients(root)).toEqual([]);
  });
});
