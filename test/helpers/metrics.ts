// Reading a wicket process's admin listener in tests: /metrics parsed into numbers, /ready.
import type { Proc } from "./proc.ts";

export interface Scrape {
  /** The value of one series; 0 when absent (Prometheus counters start at zero). */
  get(name: string, labels?: Record<string, string>): number;
  text: string;
}

const key = (name: string, labels: Record<string, string> = {}) =>
  `${name}{${Object.keys(labels)
    .sort()
    .map((k) => `${k}="${labels[k]}"`)
    .join(",")}}`;

export async function scrape(baseUrl: string): Promise<Scrape> {
  const res = await fetch(`${baseUrl}/metrics`);
  if (res.status !== 200) throw new Error(`GET ${baseUrl}/metrics answered ${res.status}`);
  const text = await res.text();
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    values.set(key(m[1]!, labels), Number(m[3]));
  }
  return { text, get: (name, labels) => values.get(key(name, labels)) ?? 0 };
}

export async function ready(baseUrl: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}/ready`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** The admin listener's base URL, from the line a process logs when it starts one. */
export async function metricsUrl(proc: Proc): Promise<string> {
  const [, url] = await proc.waitForLine(/metrics on (http:\/\/\S+)\/metrics/, { stream: "stderr" });
  return url!;
}

