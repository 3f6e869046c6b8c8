// The README and the guides in docs/: the parts the code defines match it, every link between
// them leads to a file that exists, each guide says whom it is for, and the front page stays short.
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { GUIDES, guideFor } from "../lib/cli/guides.ts";
import { CONFIG_DOC, configDoc } from "../scripts/docs.ts";

const ROOT = join(import.meta.dir, "..");
const GUIDE_PAGES = readdirSync(join(ROOT, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`);
const PAGES = ["README.md", ...GUIDE_PAGES];
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
    const unsaid = GUIDE_PAGES.filter((g) => !/^# .+\n\nFor /.test(read(g)));
    expect(unsaid).toEqual([]);
    expect(read("README.md").split("\n").length).toBeLessThan(250);
  });
});

describe("--help names the guide", () => {
  test("each command's guide exists, and a subcommand falls back to its parent's", () => {
    const missing = Object.keys(GUIDES).map((words) => guideFor(words.split(" ").filter(Boolean))).filter((g) => !existsSync(join(ROOT, g.split("#")[0]!)));
    expect(missing).toEqual([]);
    expect(guideFor(["edge", "app", "add"])).toBe("docs/admin.md");
    expect(guideFor(["edge", "recording", "export"])).toBe("docs/terminal.md");
    expect(guideFor(["access", "ssh"])).toBe("docs/commands.md#client");
    expect(guideFor([])).toBe("README.md");
  });

  test("`wicket edge app --help` ends with its guide", async () => {
    const p = Bun.spawn(["bun", join(ROOT, "commands/wicket.ts"), "edge", "app", "--help"], { stdout: "pipe", stderr: "pipe" });
    const [out, code] = [await new Response(p.stdout).text(), await p.exited];
    expect(code).toBe(0);
    expect(out.trimEnd().split("\n").at(-1)).toBe("Guide: docs/admin.md in wicket's source.");
  });
});
