// The README and the guides in docs/: the parts the code defines match it, every link between
// them leads to a file that exists, each guide says whom it is for, and the front page stays short.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { CONFIG_DOC, configDoc } from "../scripts/docs.ts";

const ROOT = join(import.meta.dir, "..");
const GUIDES = readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`);
const PAGES = ["README.md", ...GUIDES];
const read = (rel: string) => readFileSync(join(ROOT, rel), "utf8");

describe("the docs", () => {
  test("docs/config.md lists every key of edge.yaml the parser accepts, as `bun scripts/docs.ts` writes it", () => {
    const text = readFileSync(CONFIG_DOC, "utf8");
    expect(text, "docs/config.md differs from the code: run `bun scripts/docs.ts` and commit it").toBe(configDoc(text));
  });

  test("every relative link of the README and the guides leads to a file that exists", () => {
    const broken: string[] = [];
    for (const page of PAGES) {
      for (const [, target] of read(page).matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!) || target!.startsWith("#")) continue;
        const file = target!.split("#")[0]!;
        if (!existsSync(join(ROOT, dirname(page), file))) broken.push(`${page} → ${target}`);
      }
    }
    expect(broken).toEqual([]);
  });

  test("each guide opens by saying whom it is for, and the README is the short front door", () => {
    const unsaid = GUIDES.filter((g) => !/^# .+\n\nFor /.test(read(g)));
    expect(unsaid).toEqual([]);
    expect(read("README.md").split("\n").length).toBeLessThan(250);
  });
});
