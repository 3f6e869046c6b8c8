// What the admin commands print on stdout: aligned tables for people, JSON for scripts.
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

/** A byte count for people (its home is lib/cli/values.ts, beside the size parser). */
export { formatBytes as bytes } from "../cli/values.ts";

/** Named tunnels as `tunnel list` and `edge tunnel list` print them. */
export function printTunnels(tunnels: { zone: string; name: string; id: string; routes: string[]; connections: number; createdBy: string; createdAt: number; disabled?: string }[]) {
  printTable(
    ["ZONE", "NAME", "ID", "ROUTES", "CONNECTIONS", "CREATED BY", "CREATED", "STATE"],
    tunnels.map((t) => [t.zone, t.name, t.id, t.routes.join(",") || "-", String(t.connections), t.createdBy, when(t.createdAt), t.disabled ? t.disabled.split(";")[0]!.replace(/^tunnel /, "") : "live"]),
    "(no tunnels)",
  );
}
