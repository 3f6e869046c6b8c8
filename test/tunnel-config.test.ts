// `wicket tunnel --config tunnel.yaml`: every flag's key, an ingress list, WICKET_* variables,
// and errors that name the file, the line and the key.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFile, writeFile } from "node:fs/promises";
import { parseTunnelFile } from "../lib/tunnel/config.ts";
import { resolveEdgeTargets } from "../lib/tunnel/edges.ts";
import { resolveSettings, TUNNEL_KEYS } from "../lib/tunnel/settings.ts";
import { startConnector, zoneCert } from "./helpers/connector.ts";
import { startFaultProxy } from "./helpers/faultproxy.ts";
import { ready, scrape } from "./helpers/metrics.ts";
import { run } from "./helpers/proc.ts";
import { startSshd, type Sshd } from "./helpers/sshd.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";
import { startEdge, wicket, type TestEdge } from "./helpers/wicket.ts";

const yaml = (...lines: string[]) => lines.join("\n") + "\n";

/** The one-line error a file gets, from the same code `wicket tunnel` runs. */
function errorOf(text: string): string {
  try {
    parseTunnelFile(text, "tunnel.yaml", TUNNEL_KEYS);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error("the file was accepted");
}

describe("the config file's errors name the file, line, key and reason", () => {
  test("an unknown key, with the key it was probably meant to be", () => {
    expect(errorOf(yaml("ha_connections: 2"))).toBe("tunnel.yaml:1: ha_connections: unknown key; did you mean ha-connections?");
    expect(errorOf(yaml("hostname: a.site.test", "colour: blue"))).toStartWith("tunnel.yaml:2: colour: unknown key; known keys: ");
  });

  test("a bad value names its key when it is read", async () => {
    await using dir = await tempDir();
    const file = dir.join("tunnel.yaml");
    await writeFile(file, yaml("hostname: a.site.test", "grace-period: soon"));
    await expect(resolveSettings({ config: file }, [], {})).rejects.toThrow(`${file}:2: grace-period: "soon" is not a duration; use for example 30s, 2m, 24h or 90d`);
    await writeFile(file, yaml("hostname: a.site.test", "ha-connections: 0"));
    await expect(resolveSettings({ config: file }, [], {})).rejects.toThrow(`${file}:2: ha-connections: "0" must be a whole number of at least 1`);
    await writeFile(file, yaml("hostname: a.site.test", "metrics: 9090"));
    await expect(resolveSettings({ config: file }, [], {})).rejects.toThrow(`${file}:2: metrics: "9090" is not HOST:PORT`);
  });

  test("ingress rules", () => {
    expect(errorOf(yaml("ingress:", "  - hostname: a.site.test", "    service: ssh://localhost:22"))).toBe(
      "tunnel.yaml:2: ingress[0]: the last rule must be a catch-all without hostname; add `- service: refuse` (or an origin) at the end",
    );
    expect(errorOf(yaml("ingress:", "  - service: refuse", "  - hostname: a.site.test", "    service: ssh://localhost:22"))).toBe(
      "tunnel.yaml:2: ingress[0]: a rule without hostname is the catch-all and must come last; give it a hostname or move it to the end",
    );
    expect(errorOf(yaml("ingress:", "  - hostname: a.site.test", "    service: http://localhost:80", "  - service: refuse"))).toBe(
      'tunnel.yaml:3: ingress[0].service: "http://localhost:80" has an unsupported scheme; use ssh:// or tcp://',
    );
    expect(errorOf(yaml("ingress:", "  - hostname: a.site.test", "  - service: refuse"))).toStartWith("tunnel.yaml:2: ingress[0].service: is missing");
    expect(errorOf(yaml("ingress:", "  - hostname: a.site.test", "    service: tcp://db:5432", "    port: 1", "  - service: refuse"))).toBe(
      "tunnel.yaml:4: ingress[0].port: unknown key; a rule has `hostname` and `service`",
    );
    expect(errorOf(yaml("ingress:", "  - hostname: a.site.test", "    service: tcp://db:5432", "  - hostname: A.site.test", "    service: tcp://db:5433", "  - service: refuse"))).toBe(
      "tunnel.yaml:4: ingress[1].hostname: a.site.test is listed twice; each hostname goes to one origin",
    );
    expect(errorOf(yaml("ingress:", "  - hostname: not a name", "    service: tcp://db:5432", "  - service: refuse"))).toBe(
      'tunnel.yaml:2: ingress[0].hostname: "not a name" is not a hostname; use a DNS name such as ssh.example.com',
    );
    expect(errorOf(yaml("ingress: ssh://localhost:22"))).toStartWith("tunnel.yaml:1: ingress: must be a list of rules");
  });

  test("not YAML, not a mapping, a key for the command line only", () => {
    expect(errorOf("hostname: [a\n")).toMatch(/^tunnel\.yaml:2: not valid YAML: /);
    expect(errorOf("- a\n- b\n")).toBe("tunnel.yaml:1: the file must be a mapping of keys to values, like `ha-connections: 4`");
    expect(errorOf(yaml("config: other.yaml"))).toBe("tunnel.yaml:1: config: belongs on the command line, not in the file");
  });

  test("every flag of `wicket tunnel` is a key of the file", () => {
    const file = parseTunnelFile(
      yaml(
        "hostname: a.site.test",
        "url: tcp://127.0.0.1:5432",
        "origincert: /etc/wicket/cert.pem",
        "edge: [https://a.example, https://b.example]",
        "ca-file: /etc/wicket/ca.pem",
        "ha-connections: 2",
        "grace-period: 1m",
        "retries: 5",
        "keepalive-interval: 1s",
        "keepalive-timeout: 4s",
        "metrics: 127.0.0.1:9090",
        "logfile: /var/log/wicket.log",
        "loglevel: debug",
        "log-format: json",
      ),
      "tunnel.yaml",
      TUNNEL_KEYS,
    );
    expect([...file.values.keys()].sort()).toEqual(TUNNEL_KEYS.filter((k) => k !== "config").sort());
  });
});

describe("where settings come from: flag, then WICKET_*, then the file, then the default", () => {
  test("each source in turn", async () => {
    await using dir = await tempDir();
    const file = dir.join("tunnel.yaml");
    await writeFile(file, yaml("hostname: a.site.test", "ha-connections: 3", "grace-period: 1m", "edge: https://file.example"));
    const fromFile = await resolveSettings({ config: file }, [], {});
    expect(fromFile).toMatchObject({ haConnections: 3, gracePeriodMs: 60_000, edges: ["https://file.example"], retries: Infinity, keepalive: { intervalMs: 2000, timeoutMs: 6000 } });
    const fromEnv = await resolveSettings({ config: file }, [], { WICKET_HA_CONNECTIONS: "2", WICKET_EDGE: "https://a.example,https://b.example" });
    expect(fromEnv).toMatchObject({ haConnections: 2, gracePeriodMs: 60_000, edges: ["https://a.example", "https://b.example"] });
    const fromFlag = await resolveSettings({ config: file, "ha-connections": "1" }, ["--edge", "https://x.example", "--edge=https://y.example"], { WICKET_HA_CONNECTIONS: "2" });
    expect(fromFlag).toMatchObject({ haConnections: 1, edges: ["https://x.example", "https://y.example"] });
    await expect(resolveSettings({}, [], { WICKET_CONFIG: file, WICKET_RETRIES: "many" })).rejects.toThrow('WICKET_RETRIES "many" must be a whole number of at least 0');
    await expect(resolveSettings({ config: file, hostname: "b.site.test" }, [], {})).resolves.toMatchObject({ ingress: [{ hostname: "b.site.test" }] });
    await writeFile(file, yaml("ingress:", "  - hostname: a.site.test", "    service: tcp://127.0.0.1:1", "  - service: refuse"));
    await expect(resolveSettings({ config: file, hostname: "b.site.test" }, [], {})).rejects.toThrow(`--hostname and the ingress list (${file}:1: ingress) both say what to serve; use one of them`);
  });

  test("a name that resolves to several addresses spreads connections over them (a stand-in resolver)", async () => {
    // Real DNS with several A records for one name is not available here: the lookup is injected.
    const targets = await resolveEdgeTargets(["https://edge.example:8443", "https://10.0.0.9"], async (name) => (name === "edge.example" ? ["10.0.0.1", "10.0.0.2", "fd00::3"] : []));
    expect(targets).toEqual([
      { label: "https://edge.example:8443 (10.0.0.1)", wsUrl: "wss://10.0.0.1:8443/connect", servername: "edge.example", host: "edge.example:8443" },
      { label: "https://edge.example:8443 (10.0.0.2)", wsUrl: "wss://10.0.0.2:8443/connect", servername: "edge.example", host: "edge.example:8443" },
      { label: "https://edge.example:8443 (fd00::3)", wsUrl: "wss://[fd00::3]:8443/connect", servername: "edge.example", host: "edge.example:8443" },
      { label: "https://10.0.0.9", wsUrl: "wss://10.0.0.9/connect" },
    ]);
  });
});

describe("a connector run from a config file", () => {
  let dir: TempDir;
  let edge: TestEdge;
  let a: Sshd;
  let b: Sshd;

  beforeAll(async () => {
    dir = await tempDir("wicket-config-");
    [a, b] = await Promise.all([startSshd(), startSshd()]);
    edge = await startEdge({ dir });
  });
  afterAll(async () => {
    await edge?.[Symbol.asyncDispose]();
    await a?.[Symbol.asyncDispose]();
    await b?.[Symbol.asyncDispose]();
    await dir?.[Symbol.asyncDispose]();
  });

  test("an ingress list with two hostnames serves each from its own origin", async () => {
    const [ta, tb] = [await edge.app("a.site.test"), await edge.app("b.site.test")];
    const file = dir.join("two.yaml");
    const log = dir.join("tunnel.log");
    await writeFile(
      file,
      yaml("ha-connections: 2", `logfile: ${log}`, "log-format: json", "ingress:", "  - hostname: a.site.test", `    service: ssh://127.0.0.1:${a.port}`, "  - hostname: B.site.test", `    service: tcp://127.0.0.1:${b.port}`, "  - service: refuse"),
    );
    await using t = await startConnector(edge, ["--config", file], { wait: 2 });
    const ca = await a.client("a.site.test", { proxyCommand: edge.proxyCommand(ta) });
    const cb = await b.client("b.site.test", { proxyCommand: edge.proxyCommand(tb) });
    const [ra, rb] = await Promise.all([run(["ssh", ...ca.args, "a.site.test", "echo $SSH_CONNECTION"]), run(["ssh", ...cb.args, "b.site.test", "echo $SSH_CONNECTION"])]);
    expect(ra.stdout.trim().split(" ")[3]).toBe(String(a.port));
    expect(rb.stdout.trim().split(" ")[3]).toBe(String(b.port));
    expect((await ready(t.metrics)).body).toMatchObject({ ready: true, connections: 2 });
    expect((await scrape(t.metrics)).get("wicket_tunnel_streams_total")).toBe(2);

    // --logfile gets the same lines, here as JSON
    const lines = (await readFile(log, "utf8")).trim().split("\n").map((l) => JSON.parse(l));
    expect(lines[0].msg).toContain("serving a.site.test -> ssh://127.0.0.1:");
    expect(lines.filter((l) => /^connection \d+ registered with .* for a\.site\.test, b\.site\.test$/.test(l.msg)).length).toBe(2);
    expect(lines.every((l) => typeof l.time === "string" && l.level)).toBe(true);
  });

  test("a config with an error is refused with its key named: exit 78", async () => {
    const file = dir.join("bad.yaml");
    await writeFile(file, yaml("ha-connections: 2", "ingress:", "  - hostname: a.site.test", "    service: ssh://127.0.0.1:22", "  - hostname: b.site.test", "    service: ftp://127.0.0.1:21", "  - service: refuse"));
    const r = await wicket(["tunnel", "--config", file, "--origincert", await zoneCert(edge)]);
    expect(r.code).toBe(78);
    expect(r.stderr.trim()).toBe(`error: ${file}:6: ingress[1].service: "ftp://127.0.0.1:21" has an unsupported scheme; use ssh:// or tcp://`);
  });

  test("a hostname outside the credential's zone is named with where it came from: exit 77", async () => {
    const file = dir.join("outside.yaml");
    await writeFile(file, yaml("ingress:", "  - hostname: a.site.test", "    service: ssh://127.0.0.1:22", "  - hostname: ssh.other.test", "    service: ssh://127.0.0.1:22", "  - service: refuse"));
    const r = await wicket(["tunnel", "--config", file, "--origincert", await zoneCert(edge)]);
    expect(r.code).toBe(77);
    expect(r.stderr).toContain(`${file}:4: ingress[1].hostname: ssh.other.test is outside the zone site.test`);
  });

  test("WICKET_* variables stand for every flag", async () => {
    const tok = await edge.app("env.site.test");
    await using proxy = await startFaultProxy({ port: edge.port });
    await using t = await startConnector(edge, [], {
      wait: 3,
      env: { WICKET_HOSTNAME: "env.site.test", WICKET_URL: `ssh://127.0.0.1:${a.port}`, WICKET_HA_CONNECTIONS: "3", WICKET_EDGE: proxy.url, WICKET_GRACE_PERIOD: "1s", WICKET_KEEPALIVE_INTERVAL: "1s", WICKET_KEEPALIVE_TIMEOUT: "3s" },
    });
    expect(proxy.live().length).toBe(3);
    const c = await a.client("env.site.test", { proxyCommand: edge.proxyCommand(tok) });
    expect((await run(["ssh", ...c.args, "env.site.test", "echo env"])).stdout).toBe("env\n");
    const bad = await wicket(["tunnel", "--hostname", "env.site.test", "--origincert", await zoneCert(edge)], { env: { WICKET_KEEPALIVE_TIMEOUT: "forever" } });
    expect(bad.code).toBe(78);
    expect(bad.stderr.trim()).toBe('error: WICKET_KEEPALIVE_TIMEOUT "forever" is not a duration; use for example 30s, 2m, 24h or 90d');
    const flag = await wicket(["tunnel", "--hostname", "env.site.test", "--origincert", await zoneCert(edge), "--ha-connections", "none"]);
    expect(flag.code).toBe(64);
    expect(flag.stderr.trim()).toBe('error: --ha-connections "none" must be a whole number of at least 1');
  });
});
