// The compiled executables under test (`npm test` builds them first; `bun run build` by hand).
import { existsSync } from "node:fs";
import { join } from "node:path";

export const DIST = join(import.meta.dir, "..", "..", "dist");

/** Path of dist/<name> (a command file's own executable); throws a clear message when it has not been built. */
export function bin(name = "wicket"): string {
  const path = join(DIST, name);
  if (!existsSync(path)) throw new Error(`${path} does not exist: run \`bun run build\` first (npm test does)`);
  return path;
}
