// The ProxyCommand line `access ssh-config` prints, quoted for the OpenSSH of each platform:
// on POSIX, run by the real ssh through `sh -c`; on Windows, split by the C runtime's rules
// (no OpenSSH for Windows runs here, so a reference splitter written from Microsoft's
// documented rules stands in for it, and says so).
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmod, copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { sshConfigStanza } from "../lib/access/ssh-config.ts";
import { windowsQuote } from "../lib/cli/self.ts";
import { expectExit, run } from "./helpers/proc.ts";
import { tempDir, type TempDir } from "./helpers/tmp.ts";

const HOST = "ssh.example.test";
const proxyLine = (stanza: string) => /^\tProxyCommand (.*)$/m.exec(stanza)?.[1] ?? "";

/**
 * Microsoft's rules for splitting a command line into arguments (the C runtime since 2008,
 * CommandLineToArgvW): blanks separate, double quotes group, 2n backslashes before a quote
 * are n backslashes and the quote delimits, 2n+1 are n and a literal quote, other
 * backslashes are literal, and "" inside quotes is a literal quote.
 */
function splitWindowsCommandLine(line: string): string[] {
  const args: string[] = [];
  let i = 0;
  while (i < line.length) {
    while (line[i] === " " || line[i] === "\t") i++;
    if (i >= line.length) break;
    let arg = "";
    let quoted = false;
    while (i < line.length && (quoted || (line[i] !== " " && line[i] !== "\t"))) {
      if (line[i] === "\\") {
        let n = 0;
        while (line[i] === "\\") (n++, i++);
        if (line[i] === '"') {
          arg += "\\".repeat(n >> 1);
          if (n % 2 === 1) (arg += '"'), i++;
        } else arg += "\\".repeat(n);
      } else if (line[i] === '"') {
        if (quoted && line[i + 1] === '"') (arg += '"'), (i += 2);
        else (quoted = !quoted), i++;
      } else arg += line[i++];
    }
    args.push(arg);
  }
  return args;
}

/** What ssh does to the line before running it: %h is the host, %% a percent sign. */
const expandTokens = (line: string, host: string) => line.replace(/%([%h])/g, (_, t) => (t === "%" ? "%" : host));

describe("Windows quoting (OpenSSH for Windows: CreateProcess, C runtime rules)", () => {
  const words = [
    "plain",
    "C:\\Program Files\\wicket\\wicket.exe",
    "C:\\Users\\Jane \"JD\" Doe\\ca.pem",
    "C:\\dir with space\\",
    "trailing\\\\",
    'back\\"quote',
    "",
    "tab\there",
    "it's 100%",
  ];
  test.each(words)("%p survives the round trip", (word) => {
    expect(splitWindowsCommandLine(windowsQuote(word))).toEqual([word]);
  });

  test("words without blanks or quotes are left bare, backslashes and all", () => {
    expect(windowsQuote("C:\\wicket\\wicket.exe")).toBe("C:\\wicket\\wicket.exe");
    expect(windowsQuote("--ca-file")).toBe("--ca-file");
  });

  test("the stanza uses double quotes, Windows paths, and %% for a literal percent", () => {
    const stanza = sshConfigStanza(
      { hostname: HOST, edge: "https://edge.example.test", caFile: "C:\\Users\\Jane Doe\\100%\\ca.pem" },
      { platform: "win32", command: ["C:\\Program Files\\wicket\\wicket.exe"] },
    );
    expect(stanza).toBe(
      `Host ${HOST}\n\tProxyCommand "C:\\Program Files\\wicket\\wicket.exe" access ssh --hostname %h --edge https://edge.example.test --ca-file "C:\\Users\\Jane Doe\\100%%\\ca.pem"\n`,
    );
    expect(splitWindowsCommandLine(expandTokens(proxyLine(stanza), HOST))).toEqual([
      "C:\\Program Files\\wicket\\wicket.exe",
      "access",
      "ssh",
      "--hostname",
      HOST,
      "--edge",
      "https://edge.example.test",
      "--ca-file",
      "C:\\Users\\Jane Doe\\100%\\ca.pem",
    ]);
  });

  test("a Windows path with no blanks stays bare, drive letter and backslashes intact", () => {
    const stanza = sshConfigStanza({ hostname: HOST, caFile: "C:\\certs\\ca.pem" }, { platform: "win32", command: ["C:\\w\\wicket.exe"] });
    expect(proxyLine(stanza)).toBe("C:\\w\\wicket.exe access ssh --hostname %h --ca-file C:\\certs\\ca.pem");
  });
});

describe("POSIX quoting, through the real ssh and sh", () => {
  let dir: TempDir;
  let dump: string;
  let caFile: string;

  beforeAll(async () => {
    dir = await tempDir("wicket-ssh-config-");
    // A ProxyCommand in a folder whose name needs every kind of quoting: it writes its
    // arguments, NUL-separated, to a file, and exits (ssh then gives up, as it should).
    const odd = dir.join(`it's 100% "odd" $HOME`);
    await mkdir(odd);
    dump = `${odd}/dump args`;
    await writeFile(dump, `#!/bin/sh\nprintf '%s\\0' "$@" > "$(dirname "$0")/argv"\n`);
    await chmod(dump, 0o755);
    caFile = `${odd}/ca.pem`;
  });
  afterAll(async () => {
    await dir?.[Symbol.asyncDispose]();
  });

  test("ssh runs the printed ProxyCommand with each argument intact", async () => {
    const stanza = sshConfigStanza({ hostname: HOST, edge: "https://edge.example.test:8443", caFile }, { platform: "linux", command: [dump] });
    const config = dir.join("ssh_config");
    await writeFile(config, stanza + "\tBatchMode yes\n\tStrictHostKeyChecking no\n\tUserKnownHostsFile /dev/null\n");
    const r = await run(["ssh", "-F", config, HOST, "true"], { timeoutMs: 20_000 });
    expect(r.code).toBe(255); // the stand-in proxy speaks no SSH
    const argv = (await readFile(`${dir.join(`it's 100% "odd" $HOME`)}/argv`, "utf8")).split("\0").slice(0, -1);
    expect(argv).toEqual(["access", "ssh", "--hostname", HOST, "--edge", "https://edge.example.test:8443", "--ca-file", caFile]);
  });

  test("with --short-lived-cert, ssh runs the Match exec command with each argument intact", async () => {
    // Match exec takes no double quote in a path (see the next test); everything else goes.
    const odd = dir.join(`it's 100% $HOME`);
    await mkdir(odd);
    await copyFile(dump, `${odd}/dump args`);
    const stanza = sshConfigStanza({ hostname: HOST, caFile: `${odd}/ca.pem`, shortLivedCert: true }, { platform: "linux", command: [`${odd}/dump args`] });
    const config = dir.join("ssh_config_cert");
    await writeFile(config, stanza);
    // -G evaluates the configuration, Match exec included, and connects nowhere.
    expectExit(await run(["ssh", "-F", config, "-G", HOST], { timeoutMs: 20_000 }));
    const argv = (await readFile(`${odd}/argv`, "utf8")).split("\0").slice(0, -1);
    expect(argv).toEqual(["access", "ssh-gen", "--hostname", HOST, "--ca-file", `${odd}/ca.pem`]);
  });

  test("a double quote in a path of the Match exec line is refused with a clear message", () => {
    expect(() => sshConfigStanza({ hostname: HOST, caFile, shortLivedCert: true }, { platform: "linux", command: [dump] })).toThrow("cannot carry there");
  });
});
