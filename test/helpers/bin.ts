// The compiled executables under test (`npm test` builds them first; `bun run build` by hand).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { run, spawnProc, type Proc, type RunOptions, type RunResult, type SpawnOptions } from "./proc.ts";

export const DIST = join(import.meta.dir, "..", "..", "dist");

/** Path of dist/<name>; throws a clear message when it has not been built. */
export function bin(name = "wicket"): string {
  const path = join(DIST, name);
  if (!existsSync(path)) throw new Error(`${path} does not exist: run \`bun run build\` first (npm test does)`);
  return path;
}

/** Runs dist/wicket with `args` to completion. */
export function runWicket(args: string[], opts?: RunOptions): Promise<RunResult> {
  return run([bin("wicket"), ...args], opts);
}

/** Starts dist/wicket with `args` as a long-running process (edge, tunnel). */
export function spawnWicket(args: string[], opts?: SpawnOptions): Proc {
  return spawnProc([bin("wicket"), ...args], { name: `wicket ${args[0] ?? ""}`.trim(), ...opts });
}
