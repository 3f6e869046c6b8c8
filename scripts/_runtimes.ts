// The platforms `bun run build --all` builds for, and the Bun runtime each one is built from.
//
// A compiled executable is a Bun runtime for the target platform with our bundle appended.
// Bun would download that runtime from GitHub; we take it from the npm registry instead (the
// @oven/bun-<os>-<arch> packages the `bun` npm package itself installs from), through the
// ordinary `npm pack`, which checks the tarball against the registry's integrity hash. The
// runtime's version must be exactly the version of the Bun that builds: the bundle's
// bytecode is only valid for that runtime.
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";

export interface Platform {
  /** dist/<name>/ and the name install.sh asks for: <os>-<arch>[-musl]. */
  name: string;
  target: Bun.Build.CompileTarget;
  /** npm package holding the runtime's binary at package/bin/<exe>. */
  pkg: string;
  exe: "bun" | "bun.exe";
}

// x64 needs no "-baseline" runtime: for Bun 1.4.5 the baseline and default x64 runtimes
// are the same file (same SHA-256 in both npm packages), so this adds no CPU requirement.
export const PLATFORMS: Platform[] = [
  { name: "linux-x64", target: "bun-linux-x64", pkg: "@oven/bun-linux-x64", exe: "bun" },
  { name: "linux-arm64", target: "bun-linux-arm64", pkg: "@oven/bun-linux-aarch64", exe: "bun" },
  { name: "linux-x64-musl", target: "bun-linux-x64-musl", pkg: "@oven/bun-linux-x64-musl", exe: "bun" },
  { name: "linux-arm64-musl", target: "bun-linux-arm64-musl", pkg: "@oven/bun-linux-aarch64-musl", exe: "bun" },
  { name: "darwin-x64", target: "bun-darwin-x64", pkg: "@oven/bun-darwin-x64", exe: "bun" },
  { name: "darwin-arm64", target: "bun-darwin-arm64", pkg: "@oven/bun-darwin-aarch64", exe: "bun" },
  { name: "windows-x64", target: "bun-windows-x64", pkg: "@oven/bun-windows-x64", exe: "bun.exe" },
];

/** File name of a command's executable on a platform. */
export const exeName = (p: Platform, command: string) => (p.exe.endsWith(".exe") ? `${command}.exe` : command);

async function sh(cmd: string[], what: string): Promise<string> {
  let proc: Bun.Subprocess<"ignore", "pipe", "pipe">;
  try {
    proc = Bun.spawn(cmd, { stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  } catch (err) {
    throw new Error(`${what}: cannot run ${cmd[0]} (${(err as Error).message}); it must be on PATH`);
  }
  const [stdout, stderr, code] = await Promise.all([new Response(proc.stdout).text(), new Response(proc.stderr).text(), proc.exited]);
  if (code !== 0) throw new Error(`${what}: \`${cmd.join(" ")}\` exited with ${code}\n${stderr.trim()}`);
  return stdout;
}

/**
 * Path of the Bun runtime for `p`, fetched once into `cacheDir` (kept between builds: it
 * only changes with the Bun version). Safe to run concurrently: each fetch unpacks into its
 * own temporary directory and renames the finished binary into place.
 */
export async function runtimeFor(p: Platform, cacheDir: string, version = Bun.version): Promise<string> {
  const dir = join(cacheDir, `${p.pkg.replace(/^@oven\//, "")}-${version}`);
  const exe = join(dir, p.exe);
  if (existsSync(exe)) return exe;
  mkdirSync(cacheDir, { recursive: true });
  const tmp = mkdtempSync(join(cacheDir, ".fetch-"));
  try {
    const spec = `${p.pkg}@${version}`;
    const out = await sh(["npm", "pack", spec, "--pack-destination", tmp, "--json", "--loglevel=error"], `fetching the ${p.name} runtime (${spec}) from the npm registry`);
    const [packed] = JSON.parse(out) as { filename: string }[];
    if (!packed) throw new Error(`npm pack ${spec} printed no file name`);
    await sh(["tar", "-xzf", join(tmp, packed.filename), "-C", tmp, `package/bin/${p.exe}`], `unpacking ${spec}`);
    mkdirSync(dir, { recursive: true });
    renameSync(join(tmp, "package", "bin", p.exe), exe);
    return exe;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
