// Parsing of flag values shared by commands.
import { configError, usageError } from "./exit.ts";
import { splitHostPort } from "../net/address.ts";

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** "30s", "1m", "500ms", "2h", "90d" or a bare number of seconds, in ms; undefined if it is none of these. */
export function durationMs(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(raw.trim());
  return m ? Number(m[1]) * UNITS[m[2] ?? "s"]! : undefined;
}

/** A duration, as `durationMs` reads it. `where` names the value in the message: the flag by
 * default, or for example "tunnel.yaml:3: grace-period:". */
export function parseDuration(raw: string, flag: string, where = `--${flag}`): number {
  const ms = durationMs(raw);
  if (ms === undefined) throw usageError(`${where} "${raw}" is not a duration; use for example 30s, 2m, 24h or 90d`);
  return ms;
}

/** A duration as `durationMs` reads it back, in the largest whole unit: 90d, 24h, 15m, 30s, 1.5s, 250ms. */
export function formatDuration(ms: number): string {
  // Days from two on: a day is easier read as 24h.
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000], ["s", 1000]] as const) {
    if (ms >= (unit === "d" ? 2 * size : size) && ms % size === 0) return `${ms / size}${unit}`;
  }
  return ms >= 1000 ? `${(ms / 1000).toFixed(1)}s` : `${ms}ms`;
}

export function parseCount(raw: string | undefined, flag: string, fallback: number, min = 0, where = `--${flag}`): number {
  if (raw === undefined || raw === "") return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw usageError(`${where} "${raw}" must be a whole number of at least ${min}`);
  return n;
}

/** A listen address, HOST:PORT as lib/net/address.ts reads it (IPv6 in brackets); no host is
 * every address; port 0 lets the system pick. */
export function parseHostPort(raw: string, where: string): { hostname: string; port: number } {
  const a = splitHostPort(raw);
  if (!a) throw configError(`${where} "${raw}" is not HOST:PORT; for example 127.0.0.1:9090`);
  return { hostname: a.hostname || "0.0.0.0", port: a.port };
}

/** Why a file could not be read, in the words of a one-line error. */
export const unreadable = (err: unknown) => ((err as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : (err as Error).message);

/** Reads a PEM CA file given with --ca-file. */
export async function readCaFile(path: string | undefined): Promise<string | undefined> {
  if (!path) return undefined;
  try {
    const text = await Bun.file(path).text();
    if (!text.includes("-----BEGIN CERTIFICATE-----")) throw new Error("no PEM certificate in it");
    return text;
  } catch (err) {
    throw configError(`cannot use --ca-file ${path}: ${unreadable(err)}`);
  }
}
