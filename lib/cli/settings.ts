// What a long-running command (`wicket tunnel`, `wicket edge serve`) runs with, from four
// places in this order: the flag, its WICKET_<FLAG> environment variable, the --config file's
// key of the same name, the default. Each value keeps where it came from, so every error names
// it: a bad flag is a usage error (64), a bad variable or file value a configuration error (78).
import { envFlag, envName, flagGiven, flagOrEnv, type Env, type Given } from "./args.ts";
import { configError, usageError, WicketError } from "./exit.ts";
import { parseCount, parseDuration } from "./values.ts";

/** A value from a config file and where it was, e.g. "tunnel.yaml:3: grace-period:". Text is
 * read like a flag's; a value the file's own schema already checked (the edge's durations in
 * ms, its booleans) is taken as it is. */
export interface FileValue<T = unknown> {
  value: T;
  where: string;
}

export type Raw = Given | (FileValue & { from: "file" });

export interface Sources {
  args: Record<string, unknown>;
  /** The command line as typed, for repeatable flags and `--no-<switch>`. */
  rawArgs?: readonly string[];
  env?: Env;
  /** Variables read after WICKET_<FLAG>, e.g. cloudflared's names. */
  aliases?: Partial<Record<string, readonly string[]>>;
  /** Flags that may be given more than once; their values are kept as a list. */
  repeatable?: readonly string[];
  file?: (key: string) => FileValue | undefined;
}

export function settingsFrom(src: Sources) {
  const { args, rawArgs = [], env = process.env } = src;
  const raw = (key: string): Raw | undefined => {
    const given = flagOrEnv(args, key, { env, aliases: src.aliases?.[key], rawArgs: src.repeatable?.includes(key) ? rawArgs : undefined });
    if (given) return given;
    const f = src.file?.(key);
    return f && { ...f, from: "file" };
  };
  /** The kind of error a problem with `r` is: usage for a flag, configuration otherwise. */
  const blame = (r: Raw) => (r.from === "flag" ? usageError : configError);
  /** Reads a value with `f`, whose errors name `where`; a list is read as its items joined by commas. */
  const parse = <T>(r: Raw, f: (text: string, where: string) => T): T => {
    if (typeof r.value !== "string" && !Array.isArray(r.value)) return r.value as T;
    try {
      return f(Array.isArray(r.value) ? r.value.join(",") : r.value, r.where);
    } catch (err) {
      if (!(err instanceof WicketError)) throw err;
      throw blame(r)(err.message);
    }
  };
  function get<T>(key: string, f: (text: string, where: string) => T): T | undefined;
  function get<T>(key: string, f: (text: string, where: string) => T, fallback: T): T;
  function get<T>(key: string, f: (text: string, where: string) => T, fallback?: T): T | undefined {
    const r = raw(key);
    return r ? parse(r, f) : fallback;
  }
  const duration = (key: string, fallback: number) => get(key, (t, where) => parseDuration(t, key, where), fallback);
  return {
    raw,
    blame,
    parse,
    get,
    text: (key: string) => get(key, (t) => t),
    duration,
    count: (key: string, fallback: number, min: number) => get(key, (t, where) => parseCount(t, key, fallback, min, where), fallback),
    oneOf: <T extends string>(key: string, options: readonly T[], fallback: T) =>
      get(
        key,
        (t, where) => {
          if (!options.includes(t as T)) throw usageError(`${where} "${t}" is not one of ${options.join(", ")}`);
          return t as T;
        },
        fallback,
      ),
    /** --keepalive-interval and --keepalive-timeout, which both ends of a connection have. */
    keepalive: (defaults: { intervalMs: number; timeoutMs: number }) => {
      const intervalMs = duration("keepalive-interval", defaults.intervalMs);
      const timeoutMs = duration("keepalive-timeout", defaults.timeoutMs);
      if (intervalMs <= 0 || timeoutMs <= intervalMs) {
        throw usageError(`the keepalive timeout (${timeoutMs / 1000} s) must be longer than its interval (${intervalMs / 1000} s), and the interval above zero`);
      }
      return { intervalMs, timeoutMs };
    },
    /** A switch: `--key` or `--no-key`, else a variable that says 1 or true, else the file. */
    bool: (key: string, fallback = false): boolean => {
      const flag = args[key];
      if (typeof flag === "boolean" && (flag || flagGiven(rawArgs, key) || flagGiven(rawArgs, `no-${key}`))) return flag;
      if ([envName(key), ...(src.aliases?.[key] ?? [])].some((name) => envFlag(name, env))) return true;
      const f = src.file?.(key);
      return f ? f.value === true : fallback;
    },
  };
}
