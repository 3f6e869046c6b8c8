// Parsing of flag values shared by commands.
import { configError, usageError } from "./exit.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30s", "1m", "500ms", "2h", "90d" or a bare number of seconds. */
export function parseDuration(raw: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw.trim());
  if (!m) throw usageError(`--${flag} "${raw}" is not a duration; use for example 30s, 2m, 24h or 90d`);
  return Number(m[1]) * UNITS[m[2] ?? "s"]!;
}

export function parseCount(raw: string | undefined, flag: string, fallback: number, min = 0): number {
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw usageError(`--${flag} "${raw}" must be a whole number of at least ${min}`);
  return n;
}

/** Reads a PEM CA file given with --ca-file. */
export async function readCaFile(path: string | undefined): Promise<string | undefined> {
  if (!path) return undefined;
  try {
    const text = await Bun.file(path).text();
    if (!text.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no PEM certificate in it");
    return text;
  } catch (err) {
    throw configError(`cannot use --ca-file ${path}: ${(err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message}`);
  }
}
