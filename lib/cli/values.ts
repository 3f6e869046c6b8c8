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

const SIZE_UNITS: Record<string, number> = { b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3, t: 1024 ** 4, tb: 1024 ** 4, tib: 1024 ** 4 };

/** "64MiB", "512k", "2G", "1.5GiB" or a bare number of bytes, in bytes (binary units: a kB is
 * 1024 B, as `bytes()` prints sizes); undefined if it is none of these. */
export function sizeBytes(raw: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(raw.trim());
  const unit = m && SIZE_UNITS[(m[2] || "b").toLowerCase()];
  return unit ? Math.round(Number(m[1]) * unit) : undefined;
}

/** A size, as `sizeBytes` reads it; `where` as for parseDuration. */
export function parseSize(raw: string, flag: string, where = `--${flag}`): number {
  const n = sizeBytes(raw);
  if (n === undefined) throw usageError(`${where} "${raw}" is not a size; use for example 64MiB, 512KiB or 1GiB`);
  return n;
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

/** A byte count for people, in the units `sizeBytes` reads: 512 B, 1.5 KiB, 64.0 MiB. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}
