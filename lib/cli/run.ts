// How every command runs: set up logging, tie an AbortSignal to SIGINT/SIGTERM, turn errors
// into one line and an exit code. Commands set process.exitCode; nothing deep calls exit().
import { renderUsage, runCommand as cittyRunCommand, type CommandDef } from "citty";
import { EXIT, WicketError } from "./exit.ts";
import { guideFor } from "./guides.ts";
import { log, setupLog } from "./log.ts";
import pkg from "../../package.json" with { type: "json" };

declare const WICKET_VERSION: string | undefined; // defined by scripts/build.ts
export const version: string = typeof WICKET_VERSION === "string" ? WICKET_VERSION : `${pkg.version}-dev`;

/** Call at the top of every run(): applies --loglevel/--log-format. */
export function init(args: { loglevel?: string; "log-format"?: string }) {
  setupLog(process.env.WICKET_LOGLEVEL && args.loglevel === "info" ? process.env.WICKET_LOGLEVEL : args.loglevel, args["log-format"] ?? process.env.WICKET_LOG_FORMAT);
}

/** An AbortSignal that fires on the first SIGINT/SIGTERM; a second signal exits at once. */
export function shutdownSignal(): AbortSignal {
  const ac = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ac.signal.aborted) {
      log.warn(`second ${sig}: stopping at once, without waiting for live sessions`);
      process.exit(EXIT.temporary);
    }
    log.debug(`received ${sig}`);
    ac.abort(sig);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return ac.signal;
}

export function reportError(err: unknown): number {
  if (err instanceof WicketError) {
    log.error(err.message);
    log.debug(err.stack ?? "");
    return err.exitCode;
  }
  const e = err as Error;
  // citty's own usage errors (missing argument, unknown command)
  if (e?.name === "CLIError") {
    log.error(`${e.message.replace(/\x1b\[[0-9;]*m/g, "")}; see --help`);
    return EXIT.usage;
  }
  log.error(`unexpected error: ${e?.message ?? String(err)} (run with --loglevel debug for details)`);
  log.debug(e?.stack ?? "");
  return EXIT.bug;
}

/** A command whatever its arguments. */
// internals: citty itself types "some command" as CommandDef<any> (its SubCommandsDef): a command's
// run() takes its own parsed args, so no narrower CommandDef<ArgsDef> accepts every command.
type AnyCommand = CommandDef<any>;

/** A subcommand loaded only when it runs (or its help is shown): `wicket --version` and
 * `wicket access ssh` do not evaluate the edge's modules, which was most of their start-up. */
export const lazy =
  (load: () => Promise<{ default: AnyCommand }>) =>
  (): Promise<AnyCommand> =>
    load().then((m) => m.default);

/** Walks subcommands named in argv, for --help on any level; `words`: the names walked. */
async function resolveSub(cmd: AnyCommand, argv: string[], parent?: AnyCommand, words: string[] = []): Promise<[AnyCommand, AnyCommand | undefined, string[]]> {
  const subs = typeof cmd.subCommands === "function" ? await cmd.subCommands() : await cmd.subCommands;
  const name = argv.find((a) => !a.startsWith("-"));
  if (subs && name && name in subs) {
    const sub = (subs as Record<string, AnyCommand | (() => Promise<AnyCommand>)>)[name];
    const resolved = typeof sub === "function" ? await sub() : await sub;
    return resolveSub(resolved, argv.slice(argv.indexOf(name) + 1), cmd, [...words, name]);
  }
  return [cmd, parent, words];
}

/** The words that name `cmd` from the top: `wicket edge app` is ["edge", "app"]; a command
 * file run on its own (`dist/edge-app`) starts from its own name. */
async function commandWords(cmd: AnyCommand, walked: string[]): Promise<string[]> {
  const meta = typeof cmd.meta === "function" ? await cmd.meta() : await cmd.meta;
  return meta?.name && meta.name !== "wicket" ? [meta.name, ...walked] : walked;
}

/** Entry point of a command file run directly (and of the composed `wicket`). */
export async function runCommand(cmd: AnyCommand, argv = process.argv.slice(2)) {
  if (argv.includes("--help") || argv.includes("-h")) {
    const [sub, parent, walked] = await resolveSub(cmd, argv);
    const guide = guideFor(await commandWords(cmd, walked));
    process.stdout.write(`${await renderUsage(sub, parent)}\n\nGuide: ${guide} in wicket's source.\n`);
    return;
  }
  if (argv.includes("--version") || argv.includes("-v")) {
    process.stdout.write(`wicket ${version}\n`);
    return;
  }
  try {
    await cittyRunCommand(cmd, { rawArgs: argv });
  } catch (err) {
    process.exitCode = reportError(err);
  }
}
