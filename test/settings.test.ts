// The one settings resolver (lib/cli/settings.ts) that `wicket tunnel` and `wicket edge serve`
// share: flag, then WICKET_<FLAG>, then the config file, then the default; every error names
// where the bad value came from, and a bad flag is a usage error where the rest are config errors.
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { fromEnv } from "../lib/cli/args.ts";
import { WicketError } from "../lib/cli/exit.ts";
import { settingsFrom, type FileValue } from "../lib/cli/settings.ts";
import { durationMs, parseDuration } from "../lib/cli/values.ts";
import { resolveServeSettings } from "../lib/edge/config/settings.ts";
import { tempDir } from "./helpers/tmp.ts";

const fileOf =
  (values: Record<string, unknown>) =>
  (key: string): FileValue | undefined =>
    key in values ? { value: values[key], where: `f.yaml: ${key}:` } : undefined;

/** The message and exit code a resolver call fails with. */
function failure(f: () => unknown): { code: number; message: string } {
  try {
    f();
  } catch (e) {
    if (e instanceof WicketError) return { code: e.exitCode, message: e.message };
    throw e;
  }
  throw new Error("it was accepted");
}

describe("each value comes from the first place that has it", () => {
  const file = fileOf({ "grace-period": "1m", retries: "5" });

  test("flag, then variable, then file, then default", () => {
    const s = settingsFrom({ args: { "grace-period": "2s" }, env: { WICKET_GRACE_PERIOD: "3s", WICKET_RETRIES: "7" }, file });
    expect(s.duration("grace-period", 0)).toBe(2000);
    expect(s.count("retries", 0, 0)).toBe(7);
    expect(settingsFrom({ args: {}, env: {}, file }).count("retries", 0, 0)).toBe(5);
    expect(settingsFrom({ args: {}, env: {}, file }).duration("keepalive-interval", 1234)).toBe(1234);
  });

  test("each value says where it came from", () => {
    const s = settingsFrom({ args: { url: "tcp://a:1" }, env: { WICKET_HOSTNAME: "h.test", X_EDGE: "https://x" }, aliases: { edge: ["X_EDGE"] }, file });
    expect(s.raw("url")).toEqual({ value: "tcp://a:1", where: "--url", from: "flag" });
    expect(s.raw("hostname")).toEqual({ value: "h.test", where: "WICKET_HOSTNAME", from: "env" });
    expect(s.raw("edge")).toEqual({ value: "https://x", where: "X_EDGE", from: "env" });
    expect(s.raw("retries")).toEqual({ value: "5", where: "f.yaml: retries:", from: "file" });
    expect(s.raw("metrics")).toBeUndefined();
  });

  test("a repeatable flag keeps every value; an empty flag or variable counts as absent", () => {
    const s = settingsFrom({ args: { edge: "b", hostname: "" }, rawArgs: ["--edge", "a", "--edge=b"], env: { WICKET_HOSTNAME: "" }, repeatable: ["edge"] });
    expect(s.raw("edge")).toEqual({ value: ["a", "b"], where: "--edge", from: "flag" });
    expect(s.text("edge")).toBe("a,b");
    expect(s.raw("hostname")).toBeUndefined();
  });

  test("a value the file's own schema already checked is taken as it is", () => {
    const s = settingsFrom({ args: {}, env: {}, file: fileOf({ "grace-period": 45_000, dev: true }) });
    expect(s.duration("grace-period", 0)).toBe(45_000);
    expect(s.bool("dev")).toBe(true);
  });

  test("fromEnv is the same lookup without the file", () => {
    const saved = process.env.WICKET_SOME_FLAG;
    process.env.WICKET_SOME_FLAG = "from-env";
    try {
      expect(fromEnv("given", "some-flag")).toBe("given");
      expect(fromEnv(undefined, "some-flag")).toBe("from-env");
      expect(fromEnv("", "other-flag", "WICKET_SOME_FLAG")).toBe("from-env");
    } finally {
      if (saved === undefined) delete process.env.WICKET_SOME_FLAG;
      else process.env.WICKET_SOME_FLAG = saved;
    }
  });
});

describe("switches", () => {
  test("--x and --no-x win; else a variable of 1 or true turns it on; else the file; else the default", () => {
    const on = fileOf({ dev: true });
    expect(settingsFrom({ args: { dev: true }, env: {} }).bool("dev")).toBe(true);
    expect(settingsFrom({ args: { dev: false }, rawArgs: ["--no-dev"], env: {}, file: on }).bool("dev")).toBe(false);
    expect(settingsFrom({ args: {}, env: { WICKET_DEV: "1" } }).bool("dev")).toBe(true);
    expect(settingsFrom({ args: {}, env: { WICKET_DEV: "true" } }).bool("dev")).toBe(true);
    expect(settingsFrom({ args: {}, env: { WICKET_DEV: "no" } }).bool("dev")).toBe(false);
    // a citty default of false is not the flag given: the variable and the file still count
    expect(settingsFrom({ args: { dev: false }, rawArgs: [], env: {}, file: on }).bool("dev")).toBe(true);
    expect(settingsFrom({ args: {}, env: {} }).bool("dev", true)).toBe(true);
  });
});

describe("errors name the value's place; a flag's is a usage error (64), the others config errors (78)", () => {
  test("durations, counts and choices", () => {
    expect(failure(() => settingsFrom({ args: { "grace-period": "soon" }, env: {} }).duration("grace-period", 0))).toEqual({ code: 64, message: '--grace-period "soon" is not a duration; use for example 30s, 2m, 24h or 90d' });
    expect(failure(() => settingsFrom({ args: {}, env: { WICKET_GRACE_PERIOD: "soon" } }).duration("grace-period", 0))).toEqual({ code: 78, message: 'WICKET_GRACE_PERIOD "soon" is not a duration; use for example 30s, 2m, 24h or 90d' });
    expect(failure(() => settingsFrom({ args: {}, env: {}, file: fileOf({ "ha-connections": "0" }) }).count("ha-connections", 4, 1))).toEqual({ code: 78, message: 'f.yaml: ha-connections: "0" must be a whole number of at least 1' });
    expect(failure(() => settingsFrom({ args: { "log-format": "xml" }, env: {} }).oneOf("log-format", ["text", "json"], "text"))).toEqual({ code: 64, message: '--log-format "xml" is not one of text, json' });
  });

  test("the keepalive timeout must be longer than its interval", () => {
    const s = settingsFrom({ args: { "keepalive-interval": "5s", "keepalive-timeout": "5s" }, env: {} });
    expect(failure(() => s.keepalive({ intervalMs: 2000, timeoutMs: 6000 })).message).toBe("the keepalive timeout (5 s) must be longer than its interval (5 s), and the interval above zero");
    expect(settingsFrom({ args: {}, env: {} }).keepalive({ intervalMs: 2000, timeoutMs: 6000 })).toEqual({ intervalMs: 2000, timeoutMs: 6000 });
  });
});

describe("durations are read in one place", () => {
  test("units, a bare number of seconds, and what is not a duration", () => {
    expect([durationMs("500ms"), durationMs("30s"), durationMs(" 2m "), durationMs("1.5h"), durationMs("90d"), durationMs("10")]).toEqual([500, 30_000, 120_000, 5_400_000, 7_776_000_000, 10_000]);
    expect([durationMs("soon"), durationMs("-1s"), durationMs("1w"), durationMs("")]).toEqual([undefined, undefined, undefined, undefined]);
    expect(() => parseDuration("soon", "since")).toThrow('--since "soon" is not a duration');
  });
});

describe("wicket edge serve's settings", () => {
  test("the defaults", () => {
    const s = resolveServeSettings({}, [], {});
    expect(s.gracePeriodMs).toBe(30_000);
    expect(s.edge).toMatchObject({ listen: "127.0.0.1:8443", tls: { mode: "self-signed" }, keepalive: { intervalMs: 2000, timeoutMs: 6000 }, auditRetentionMs: 90 * 86_400_000, auditFailOpen: false, terminalIdleTimeoutMs: 30 * 60_000 });
    expect(s.edge.identity?.dev).toBe(false);
  });

  test("flags over variables over the file, which is checked before any of it is used", async () => {
    await using dir = await tempDir();
    const file = dir.join("edge.yaml");
    writeFileSync(file, ["listen: 0.0.0.0:443", "grace-period: 1m", "keepalive-interval: 3s", "keepalive-timeout: 9s", "tls: off", "dev: true", "audit-fail-open: true", "audit-retention: 0", "terminal-idle-timeout: 0", "trusted-proxies: [10.0.0.0/8, 192.0.2.1]"].join("\n"));
    const fromFile = resolveServeSettings({ config: file }, [], {});
    expect(fromFile.gracePeriodMs).toBe(60_000);
    expect(fromFile.edge).toMatchObject({ listen: "0.0.0.0:443", tls: { mode: "off" }, keepalive: { intervalMs: 3000, timeoutMs: 9000 }, auditRetentionMs: 0, terminalIdleTimeoutMs: 0, auditFailOpen: true, trustedProxies: ["10.0.0.0/8", "192.0.2.1"] });
    expect(fromFile.edge.identity?.dev).toBe(true);

    const over = resolveServeSettings({ listen: "127.0.0.1:0", "grace-period": "5s", dev: false }, ["--listen", "127.0.0.1:0", "--grace-period", "5s", "--no-dev"], { WICKET_CONFIG: file, WICKET_LISTEN: "127.0.0.1:1", WICKET_TLS: "self-signed", WICKET_TRUSTED_PROXIES: "127.0.0.1" });
    expect(over.gracePeriodMs).toBe(5000);
    expect(resolveServeSettings({ "terminal-idle-timeout": "15m" }, ["--terminal-idle-timeout", "15m"], { WICKET_CONFIG: file }).edge.terminalIdleTimeoutMs).toBe(15 * 60_000);
    expect(over.edge).toMatchObject({ listen: "127.0.0.1:0", tls: { mode: "self-signed" }, trustedProxies: ["127.0.0.1"] });
    expect(over.edge.identity?.dev).toBe(false);
  });

  test("its errors", () => {
    expect(failure(() => resolveServeSettings({ "tls-cert": "c.pem" }, [], {}))).toEqual({ code: 64, message: "--tls-cert and --tls-key go together" });
    expect(failure(() => resolveServeSettings({ tls: "maybe" }, [], {}))).toEqual({ code: 64, message: '--tls "maybe" is not a mode; use self-signed, acme or off, or give --tls-cert and --tls-key' });
    expect(failure(() => resolveServeSettings({}, [], { WICKET_AUDIT_RETENTION: "forever" }))).toEqual({ code: 78, message: 'WICKET_AUDIT_RETENTION "forever" is not a duration; use for example 30s, 2m, 24h or 90d' });
    expect(failure(() => resolveServeSettings({ config: "/nonexistent/edge.yaml" }, [], {}))).toEqual({ code: 78, message: "cannot read the config file /nonexistent/edge.yaml: no such file" });
  });
});
