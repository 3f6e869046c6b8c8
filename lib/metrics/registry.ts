// Counters, gauges and histograms in the Prometheus text format (version 0.0.4): the few
// kinds /metrics needs, with labels, and nothing else.
export type Labels = Record<string, string>;

interface Family {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  lines(): string[];
}

const escapeLabel = (v: string) => v.replaceAll("\\", "\\\\").replaceAll("\n", "\\n").replaceAll('"', '\\"');
const labelKey = (labels: Labels = {}) =>
  Object.keys(labels)
    .sort()
    .map((k) => `${k}="${escapeLabel(labels[k]!)}"`)
    .join(",");
const series = (name: string, key: string, value: number) => `${name}${key ? `{${key}}` : ""} ${Number.isFinite(value) ? value : value > 0 ? "+Inf" : "-Inf"}`;

export interface Counter {
  inc(labels?: Labels, n?: number): void;
  get(labels?: Labels): number;
}

export interface Gauge {
  set(value: number, labels?: Labels): void;
  get(labels?: Labels): number;
}

export interface Histogram {
  observe(value: number, labels?: Labels): void;
}

export interface Registry {
  counter(name: string, help: string): Counter;
  /** A gauge set by hand, or read from `collect` at every scrape. */
  gauge(name: string, help: string, collect?: () => number | [Labels, number][]): Gauge;
  histogram(name: string, help: string, buckets: number[]): Histogram;
  /** The whole exposition, ending with a newline. */
  render(): string;
}

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export function createRegistry(): Registry {
  const families: Family[] = [];
  const names = new Set<string>();
  const add = (f: Family) => {
    if (names.has(f.name)) throw new Error(`metric ${f.name} registered twice`);
    names.add(f.name);
    families.push(f);
  };

  return {
    counter(name, help) {
      const values = new Map<string, number>();
      add({ name, help, type: "counter", lines: () => (values.size ? [...values].map(([k, v]) => series(name, k, v)) : [series(name, "", 0)]) });
      return {
        inc(labels, n = 1) {
          const k = labelKey(labels);
          values.set(k, (values.get(k) ?? 0) + n);
        },
        get: (labels) => values.get(labelKey(labels)) ?? 0,
      };
    },
    gauge(name, help, collect) {
      const values = new Map<string, number>();
      add({
        name,
        help,
        type: "gauge",
        lines() {
          if (collect) {
            const v = collect();
            return typeof v === "number" ? [series(name, "", v)] : v.map(([l, n]) => series(name, labelKey(l), n));
          }
          return values.size ? [...values].map(([k, v]) => series(name, k, v)) : [series(name, "", 0)];
        },
      });
      return {
        set: (value, labels) => void values.set(labelKey(labels), value),
        get(labels) {
          const v = collect?.();
          if (typeof v === "number") return v;
          return values.get(labelKey(labels)) ?? 0;
        },
      };
    },
    histogram(name, help, buckets) {
      const sorted = [...buckets].sort((a, b) => a - b);
      const values = new Map<string, { counts: number[]; sum: number; count: number }>();
      add({
        name,
        help,
        type: "histogram",
        lines() {
          const out: string[] = [];
          for (const [k, h] of values) {
            const sep = k ? `${k},` : "";
            sorted.forEach((b, i) => out.push(series(`${name}_bucket`, `${sep}le="${b}"`, h.counts[i]!)));
            out.push(series(`${name}_bucket`, `${sep}le="+Inf"`, h.count));
            out.push(series(`${name}_sum`, k, h.sum));
            out.push(series(`${name}_count`, k, h.count));
          }
          return out;
        },
      });
      return {
        observe(value, labels) {
          const k = labelKey(labels);
          let h = values.get(k);
          if (!h) values.set(k, (h = { counts: sorted.map(() => 0), sum: 0, count: 0 }));
          sorted.forEach((b, i) => {
            if (value <= b) h!.counts[i]!++;
          });
          h.sum += value;
          h.count++;
        },
      };
    },
    render() {
      const out: string[] = [];
      for (const f of families) out.push(`# HELP ${f.name} ${f.help.replaceAll("\\", "\\\\").replaceAll("\n", "\\n")}`, `# TYPE ${f.name} ${f.type}`, ...f.lines());
      return out.join("\n") + "\n";
    },
  };
}

/** Metrics every wicket process exposes: which build, and how much memory it holds. */
export function processMetrics(registry: Registry, version: string) {
  registry.gauge("wicket_build_info", "The running build: 1, with its version as a label", () => [[{ version }, 1]]);
  registry.gauge("process_resident_memory_bytes", "Resident memory of this process", () => process.memoryUsage().rss);
  registry.gauge("wicket_heap_used_bytes", "JavaScript heap in use", () => process.memoryUsage().heapUsed);
  const started = Date.now() / 1000;
  registry.gauge("process_start_time_seconds", "When this process started, in seconds since the epoch", () => started);
}
