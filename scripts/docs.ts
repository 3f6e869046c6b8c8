// Writes the parts of docs/ that the code defines, so they cannot drift from it: the table of
// edge.yaml's keys in docs/config.md, from the keys the config parser accepts
// (lib/edge/config/file.ts) and the descriptions of `edge serve`'s flags, which are the same
// names (lib/edge/config/settings.ts). `bun scripts/docs.ts` rewrites it; test/docs.test.ts
// fails when the page and the code disagree.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EDGE_CONFIG_KEYS } from "../lib/edge/config/file.ts";
import { FILE_ONLY_KEYS } from "../lib/edge/config/file-only-keys.ts";
import { serveArgs } from "../lib/edge/config/settings.ts";

export const CONFIG_DOC = join(import.meta.dir, "..", "docs", "config.md");
const BEGIN = "<!-- config-keys:begin (written by `bun scripts/docs.ts`) -->";
const END = "<!-- config-keys:end -->";

const cell = (s: string) => s.replaceAll("|", "\\|").replaceAll("\n", " ");

/** The table of every edge.yaml key: the key, whether a flag sets it too, what it means. */
export function configKeysTable(): string {
  const flags: Record<string, { description?: string }> = serveArgs;
  const rows = EDGE_CONFIG_KEYS.map((key) => {
    const flag = flags[key];
    const what = flag?.description ?? FILE_ONLY_KEYS[key];
    if (!what) throw new Error(`edge.yaml key "${key}" has no description: give \`edge serve\` a flag for it or add it to FILE_ONLY_KEYS`);
    return `| \`${key}\` | ${flag ? `\`--${key}\`` : "file only"} | ${cell(what)} |`;
  });
  return ["| key | flag | what it sets |", "|---|---|---|", ...rows].join("\n");
}

/** docs/config.md as it should be: its text with the table between the markers replaced. */
export function configDoc(text: string): string {
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a) throw new Error(`${CONFIG_DOC} has no ${BEGIN} … ${END} markers`);
  return `${text.slice(0, a + BEGIN.length)}\n${configKeysTable()}\n${text.slice(b)}`;
}

if (import.meta.main) {
  const text = readFileSync(CONFIG_DOC, "utf8");
  const want = configDoc(text);
  if (want !== text) writeFileSync(CONFIG_DOC, want);
  console.error(want === text ? "docs/config.md is up to date" : "wrote the key table of docs/config.md");
}
