// Summaries of repeated measurements: the median, the spread, and a percentile.

export interface Summary {
  n: number;
  median: number;
  min: number;
  max: number;
  p95: number;
  p99: number;
}

/** Nearest-rank percentile of already sorted values (p in 0..100). */
function rank(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  const median = s.length === 0 ? NaN : s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
  return { n: s.length, median, min: s[0] ?? NaN, max: s[s.length - 1] ?? NaN, p95: rank(s, 95), p99: rank(s, 99) };
}

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;

/** MiB/s of one transfer. */
export const mibPerSec = (bytes: number, ms: number) => bytes / MiB / (ms / 1000);
