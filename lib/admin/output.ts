// What the admin commands print on stdout: aligned tables for people, JSON for scripts.
import { formatRule, type PolicyRules } from "../policy/evaluate.ts";

export function printJson(value: unknown) {
  process.stdout.write(JSON.stringify(value, null, 2) + "\n");
}

export function printLine(line: string) {
  process.stdout.write(line + "\n");
}

/** Columns padded to the widest cell; a header row in capitals; "(none)" for no rows. */
export function printTable(headers: string[], rows: string[][], empty = "(none)") {
  if (rows.length === 0) return printLine(empty);
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ").trimEnd();
  printLine(line(headers.map((h) => h.toUpperCase())));
  for (const r of rows) printLine(line(r));
}

export const when = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, "Z");

export function describeRules(rules: PolicyRules): string {
  const part = (label: string, rs: PolicyRules["include"]) => (rs.length ? `${label} ${rs.map(formatRule).join(", ")}` : "");
  return [part("include", rules.include), part("exclude", rules.exclude), part("require", rules.require)].filter(Boolean).join("; ");
}
