// Argument fragments shared by commands, so each flag is defined once.
import type { ArgsDef } from "citty";

export const logArgs = {
  loglevel: { type: "string", description: "silent | error | warn | info | debug", default: "info", valueHint: "level" },
  "log-format": { type: "string", description: "text | json", default: "text", valueHint: "format" },
} as const satisfies ArgsDef;

export const edgeArgs = {
  edge: { type: "string", description: "URL of the edge to connect to (env WICKET_EDGE); TLS still verifies the application hostname", valueHint: "url" },
  "ca-file": { type: "string", description: "extra CA certificate to trust, for edges with their own CA (env WICKET_CA_FILE)", valueHint: "file" },
} as const satisfies ArgsDef;

export const adminArgs = {
  ...edgeArgs,
  "admin-token": { type: "string", description: "admin API token (env WICKET_ADMIN_TOKEN)", valueHint: "token" },
  "data-dir": { type: "string", description: "edge data directory, to read the bootstrap admin token, CA and URL from", valueHint: "dir" },
  json: { type: "boolean", description: "print JSON for scripts", default: false },
} as const satisfies ArgsDef;

/** A flag's value, else its WICKET_<FLAG> environment variable, else the aliases given. */
export function fromEnv(value: unknown, flag: string, ...aliases: string[]): string | undefined {
  if (typeof value === "string" && value !== "") return value;
  for (const name of [`WICKET_${flag.toUpperCase().replaceAll("-", "_")}`, ...aliases]) {
    const v = process.env[name];
    if (v) return v;
  }
  return undefined;
}

// citty 0.2 keeps only the last value of a repeated string flag, so flags that may be given
// more than once are read from the raw arguments.
/** Every value of `--name V` / `--name=V` in `rawArgs` (up to `--`), else what citty parsed. */
export function repeatedFlag(rawArgs: readonly string[], name: string, parsed?: unknown): string[] {
  const values: string[] = [];
  const flag = `--${name}`;
  for (let i = 0; i < rawArgs.length; i++) {
    const a = rawArgs[i]!;
    if (a === "--") break;
    if (a === flag && i + 1 < rawArgs.length) values.push(rawArgs[++i]!);
    else if (a.startsWith(flag + "=")) values.push(a.slice(flag.length + 1));
  }
  if (values.length > 0) return values.filter((v) => v !== "");
  if (parsed === undefined || parsed === null || parsed === false) return [];
  return (Array.isArray(parsed) ? parsed : [parsed]).map(String).filter((v) => v !== "");
}

/** Whether `--name` appears at all in `rawArgs` (up to `--`), even with an empty value. */
export function flagGiven(rawArgs: readonly string[], name: string): boolean {
  const flag = `--${name}`;
  for (const a of rawArgs) {
    if (a === "--") return false;
    if (a === flag || a.startsWith(flag + "=")) return true;
  }
  return false;
}
