// `bun scripts/measure-build.ts`: the numbers behind scripts/build.ts's choice of minify,
// source map and bytecode. Builds commands/wicket.ts each way for this machine into a
// temporary folder, then times start-up (the median of 25 runs each, interleaved so that
// other load on the machine spreads evenly) and prints the sizes.
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const entry = join(import.meta.dir, "..", "commands", "wicket.ts");
const RUNS = 25;
const minify = { whitespace: true, syntax: true, identifiers: true, keepNames: true };
const variants: Record<string, Partial<Bun.BuildConfig>> = {
  nothing: {},
  minify: { minify },
  bytecode: { bytecode: true },
  "bytecode + minify": { bytecode: true, minify },
  "bytecode + minify + map": { bytecode: true, minify, sourcemap: "linked" },
};
const commands = [["--version"], ["access", "ssh-config", "--hostname", "ssh.example.test"]];

const dir = mkdtempSync(join(tmpdir(), "wicket-measure-"));
try {
  const bins: Record<string, string> = {};
  for (const [name, config] of Object.entries(variants)) {
    const outfile = join(dir, name.replace(/\W+/g, "-"));
    await Bun.build({ entrypoints: [entry], compile: { outfile, autoloadDotenv: false, autoloadBunfig: false }, define: { WICKET_VERSION: '"measure"' }, format: "esm", throw: true, ...config });
    bins[name] = outfile;
  }
  const times: Record<string, number[][]> = Object.fromEntries(Object.keys(bins).map((n) => [n, commands.map(() => [])]));
  for (let i = 0; i < RUNS; i++) {
    for (const [name, bin] of Object.entries(bins)) {
      commands.forEach((args, c) => {
        const t0 = performance.now();
        const r = Bun.spawnSync([bin, ...args], { stdout: "ignore", stderr: "pipe" });
        if (r.exitCode !== 0) throw new Error(`${name} ${args.join(" ")} exited ${r.exitCode}: ${r.stderr}`);
        times[name]![c]!.push(performance.now() - t0);
      });
    }
  }
  const median = (v: number[]) => v.sort((a, b) => a - b)[v.length >> 1]!.toFixed(0);
  console.log(`${"".padEnd(26)}${commands.map((c) => c[0]!.padStart(14)).join("")}      size`);
  for (const [name, bin] of Object.entries(bins)) {
    const ms = times[name]!.map((v) => `${median(v)} ms`.padStart(14)).join("");
    console.log(`${name.padEnd(26)}${ms}  ${(statSync(bin).size / 1e6).toFixed(1).padStart(6)} MB`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
