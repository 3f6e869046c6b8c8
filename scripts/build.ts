// `bun run build`: one standalone executable per command file, for this machine.
//   commands/wicket.ts  -> dist/wicket       (the composed CLI)
//   commands/<name>.ts  -> dist/<name>       (every file not starting with "_")
// `bun run build --all`: the distribution install.sh serves, cross-compiled for every platform:
//   dist/<os>-<arch>[-musl]/wicket[.exe]  and  dist/SHA256SUMS  (`sha256sum -c` format)
// (`--every-command` adds every command's executable to each platform, ~110 MB apiece;
// `--out DIR` writes to DIR instead of dist/.)
// The version baked in is `<package.json version>+<short commit>`, or just the version
// outside a git checkout (a source tarball).
import { readdirSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, basename, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import pkg from "../package.json" with { type: "json" };
import { PLATFORMS, exeName, runtimeFor, type Platform } from "./_runtimes.ts";
import { adhocSign } from "./_macho-sign.ts";

const root = join(import.meta.dir, "..");
const commandsDir = join(root, "commands");
// Bun runtimes for other platforms, fetched from npm once per Bun version; not committed.
const runtimeCache = process.env.WICKET_BUILD_CACHE || join(root, ".cache", "bun-runtimes");

// Two at a time: a compile is mostly one core's work and the CI machine has two.
const CONCURRENCY = 2;

/** One executable to build: for this machine (no platform) or for a platform's runtime. */
type Target = { name: string; platform?: Platform; outfile: string };

function gitShortCommit(): string | undefined {
  try {
    const r = Bun.spawnSync(["git", "rev-parse", "--short", "HEAD"], { cwd: root, stdout: "pipe", stderr: "ignore" });
    const sha = r.stdout.toString().trim();
    return r.exitCode === 0 && sha ? sha : undefined;
  } catch {
    return undefined; // git not installed
  }
}

export function buildVersion(): string {
  const sha = gitShortCommit();
  return sha ? `${pkg.version}+${sha}` : pkg.version;
}

function commandFiles(): string[] {
  let names: string[];
  try {
    names = readdirSync(commandsDir);
  } catch {
    return [];
  }
  return names
    .filter((f) => f.endsWith(".ts") && !f.startsWith("_") && !f.endsWith(".d.ts") && !f.endsWith(".test.ts"))
    .sort((a, b) => (a === "wicket.ts" ? -1 : b === "wicket.ts" ? 1 : a.localeCompare(b)));
}

/** This machine: every command. Every platform: wicket (the composed CLI does it all), or every command. */
function targetsFor(file: string, out: string, opts: { all: boolean; everyCommand: boolean }): Target[] {
  const name = basename(file, ".ts");
  if (!opts.all) return [{ name, outfile: join(out, name) }];
  if (name !== "wicket" && !opts.everyCommand) return [];
  return PLATFORMS.map((p) => ({ name: `${p.name}/${name}`, platform: p, outfile: join(out, p.name, exeName(p, name)) }));
}

// ssh2 (SSH in the browser) tries two native addons and works without them: cpu-features (to
// order its ciphers) and its own sshcrypto.node. Built by npm on this machine, either would be
// embedded for this platform only; each becomes a module that throws, so every binary takes
// ssh2's pure-JavaScript path.
const noNativeAddons: import("bun").BunPlugin = {
  name: "no native addons",
  setup(b) {
    b.onResolve({ filter: /^cpu-features$|sshcrypto\.node$/ }, (a) => ({ path: a.path, namespace: "no-native" }));
    b.onLoad({ filter: /.*/, namespace: "no-native" }, () => ({ contents: `throw new Error("native addons are not bundled");`, loader: "js" }));
  },
};

async function compile(entry: string, t: Target, version: string, runtimes: Map<string, string>): Promise<void> {
  const result = await Bun.build({
    entrypoints: [entry],
    compile: {
      ...(t.platform ? { target: t.platform.target, executablePath: runtimes.get(t.platform.name) } : {}),
      outfile: t.outfile,
      // A binary runs in any directory: it must not pick up that directory's .env or
      // bunfig.toml (a user's project, a CI workspace) as if they were its own.
      autoloadDotenv: false,
      autoloadBunfig: false,
      autoloadTsconfig: false,
      autoloadPackageJson: false,
    },
    define: { WICKET_VERSION: JSON.stringify(version) },
    plugins: [noNativeAddons],
    format: "esm",
    // Measured with scripts/measure-build.ts on linux-x64 (2 cores; median of 25 runs of
    // `wicket --version` / `wicket access ssh-config`; the Bun runtime is ~107 MB of the size):
    //   nothing                  60 / 61 ms   110.0 MB
    //   minify                   58 / 60 ms   109.6 MB
    //   bytecode                 27 / 28 ms   113.4 MB
    //   bytecode + minify        27 / 29 ms   113.0 MB
    //   bytecode + minify + map  28 / 29 ms   113.5 MB   <- this
    // Bytecode halves start-up, which every `ssh` through `access ssh` as a ProxyCommand
    // pays. Minify saves 0.4 MB and no measurable time; it stays, with keepNames so error
    // and class names survive. The source map costs 0.5 MB and no time: embedded, it makes
    // stack traces (--loglevel debug) point at our sources; the .map copy written beside
    // the executable is removed below.
    bytecode: true,
    // Split: each lazily loaded subcommand (lib/cli/run.ts, lazy()) becomes its own chunk,
    // whose bytecode is loaded only when it runs. One chunk held every command's code, all
    // of it loaded at start: `wicket --version` 34-35 ms, split 17-18 ms.
    splitting: true,
    minify: { whitespace: true, syntax: true, identifiers: true, keepNames: true },
    sourcemap: "linked",
    throw: false,
  });
  if (!result.success) {
    const msgs = result.logs
      .map((l) => {
        const at = l.position ? `${l.position.file.replace(`${root}/`, "")}:${l.position.line}:${l.position.column}: ` : "";
        return `  ${at}${l.level}: ${l.message}`;
      })
      .join("\n");
    throw new Error(`build of ${basename(entry)} failed:\n${msgs}`);
  }
  for (const o of result.outputs) if (o.kind === "sourcemap") rmSync(o.path, { force: true });
  if (t.platform?.name.startsWith("darwin-")) await adhocSign(t.outfile);
}

function formatSize(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

async function sha256File(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}

/** <out>/SHA256SUMS over every file in the platform folders, in `sha256sum -c` format. */
async function writeChecksums(out: string): Promise<string> {
  const lines: string[] = [];
  for (const p of PLATFORMS) {
    for (const f of readdirSync(join(out, p.name)).sort()) lines.push(`${await sha256File(join(out, p.name, f))}  ${p.name}/${f}`);
  }
  const file = join(out, "SHA256SUMS");
  writeFileSync(`${file}.tmp`, lines.join("\n") + "\n");
  renameSync(`${file}.tmp`, file);
  return file;
}

const USAGE = `usage: bun run build [--all [--every-command]] [--out DIR]
  (no flags)       DIR/<command> for this machine, one per command file (DIR: dist)
  --all            DIR/<platform>/wicket for ${PLATFORMS.map((p) => p.name).join(", ")},
                   and DIR/SHA256SUMS (runtimes fetched with npm pack into ${relative(root, runtimeCache)})
  --every-command  with --all: every command's executable for every platform, not only wicket`;

function parse(argv: string[]) {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { all: { type: "boolean" }, "every-command": { type: "boolean" }, out: { type: "string" }, help: { type: "boolean" } },
      strict: true,
      allowPositionals: false,
    });
    if (values["every-command"] && !values.all) throw new Error("--every-command goes with --all");
    return { all: values.all ?? false, everyCommand: values["every-command"] ?? false, out: resolve(values.out ?? join(root, "dist")), help: values.help ?? false };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

async function main(argv: string[]): Promise<number> {
  const opts = parse(argv);
  if ("error" in opts || opts.help) {
    if ("error" in opts) console.error(`build: ${opts.error}`);
    console.error(USAGE);
    return "error" in opts ? 64 : 0;
  }
  const { all, out } = opts;
  const files = commandFiles();
  if (files.length === 0) {
    // Not an error: the build builds whatever command files there are, even none yet.
    console.error(`build: nothing to build, no command files in ${commandsDir}`);
    return 0;
  }
  mkdirSync(out, { recursive: true });
  const version = buildVersion();
  const jobs = files.flatMap((f) => targetsFor(f, out, opts).map((t) => ({ entry: join(commandsDir, f), t })));
  const started = performance.now();

  const runtimes = new Map<string, string>();
  if (all) {
    // A platform folder holds only what this build put there, so SHA256SUMS lists nothing
    // stale; and there is no SHA256SUMS at all until every platform has built.
    rmSync(join(out, "SHA256SUMS"), { force: true });
    for (const p of PLATFORMS) {
      rmSync(join(out, p.name), { recursive: true, force: true });
      mkdirSync(join(out, p.name));
    }
    const fetched = await Promise.allSettled(PLATFORMS.map(async (p) => runtimes.set(p.name, await runtimeFor(p, runtimeCache))));
    const failed = fetched.flatMap((r) => (r.status === "rejected" ? [(r.reason as Error).message] : []));
    if (failed.length > 0) {
      console.error(failed.join("\n"));
      console.error(`build: could not fetch ${failed.length} of ${PLATFORMS.length} Bun runtimes; nothing was cross-compiled`);
      return 1;
    }
  }

  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const { entry, t } = jobs[next++]!;
      const t0 = performance.now();
      try {
        await compile(entry, t, version, runtimes);
        const size = statSync(t.outfile).size;
        const secs = ((performance.now() - t0) / 1000).toFixed(1);
        console.log(`  ${relative(root, t.outfile).padEnd(32)} ${formatSize(size).padStart(10)}  ${secs}s`);
      } catch (err) {
        failures.push(t.name);
        console.error((err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, jobs.length) }, worker));

  const total = ((performance.now() - started) / 1000).toFixed(1);
  if (failures.length > 0) {
    console.error(`build: ${failures.length} of ${jobs.length} failed (${failures.join(", ")})`);
    return 1;
  }
  if (all) console.log(`  ${relative(root, await writeChecksums(out))}`);
  console.log(`built ${jobs.length} executable${jobs.length === 1 ? "" : "s"}, version ${version}, in ${total}s`);
  return 0;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
