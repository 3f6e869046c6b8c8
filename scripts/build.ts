// `bun run build`: one standalone executable per command file, for this machine.
//   commands/wicket.ts  -> dist/wicket       (the composed CLI)
//   commands/<name>.ts  -> dist/<name>       (every file not starting with "_")
// The version baked in is `<package.json version>+<short commit>`, or just the version
// outside a git checkout (a source tarball).
import { readdirSync, mkdirSync, rmSync, statSync } from "node:fs";
import { join, basename } from "node:path";
import pkg from "../package.json" with { type: "json" };

const root = join(import.meta.dir, "..");
const commandsDir = join(root, "commands");
const distDir = join(root, "dist");

// Two at a time: a compile is mostly one core's work and the CI machine has two.
const CONCURRENCY = 2;

type Target = { name: string; compile: true | Bun.Build.CompileTarget; outfile: string };

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

/** Targets for this machine only. `--all` (cross-compiling every platform) goes here later. */
function targetsFor(file: string): Target[] {
  const name = basename(file, ".ts");
  return [{ name, compile: true, outfile: join(distDir, name) }];
}

async function compile(entry: string, t: Target, version: string): Promise<void> {
  const result = await Bun.build({
    entrypoints: [entry],
    compile: {
      ...(t.compile === true ? {} : { target: t.compile }),
      outfile: t.outfile,
      // A binary runs in any directory: it must not pick up that directory's .env or
      // bunfig.toml (a user's project, a CI workspace) as if they were its own.
      autoloadDotenv: false,
      autoloadBunfig: false,
      autoloadTsconfig: false,
      autoloadPackageJson: false,
    },
    define: { WICKET_VERSION: JSON.stringify(version) },
    format: "esm",
    // Bytecode halves start-up time (about 45 ms to 20 ms measured here), which every
    // `ssh` through `access ssh` as a ProxyCommand pays.
    bytecode: true,
    minify: { whitespace: true, syntax: true, identifiers: true, keepNames: true },
    // Embedded in the executable, so stack traces (--loglevel debug) point at our sources;
    // the .map file written beside it is a copy, removed below.
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
  rmSync(`${t.outfile}.map`, { force: true });
}

function formatSize(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

async function main(argv: string[]): Promise<number> {
  // `--all` (every platform, for install.sh to serve) is a later issue: it extends targetsFor().
  const unknown = argv.filter((a) => a !== "--help");
  if (argv.includes("--help") || unknown.length > 0) {
    if (unknown.length > 0) console.error(`build: unknown argument ${unknown[0]}`);
    console.error("usage: bun scripts/build.ts   (builds dist/<command> for this machine)");
    return unknown.length > 0 ? 64 : 0;
  }
  const files = commandFiles();
  if (files.length === 0) {
    // Not an error: the build builds whatever command files there are, even none yet.
    console.error(`build: nothing to build, no command files in ${commandsDir}`);
    return 0;
  }
  mkdirSync(distDir, { recursive: true });
  const version = buildVersion();
  const jobs = files.flatMap((f) => targetsFor(f).map((t) => ({ entry: join(commandsDir, f), t })));

  const started = performance.now();
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const { entry, t } = jobs[next++]!;
      const t0 = performance.now();
      try {
        await compile(entry, t, version);
        const size = statSync(t.outfile).size;
        const secs = ((performance.now() - t0) / 1000).toFixed(1);
        console.log(`  ${t.outfile.slice(root.length + 1).padEnd(24)} ${formatSize(size).padStart(10)}  ${secs}s`);
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
  console.log(`built ${jobs.length} executable${jobs.length === 1 ? "" : "s"}, version ${version}, in ${total}s`);
  return 0;
}

if (import.meta.main) process.exitCode = await main(process.argv.slice(2));
