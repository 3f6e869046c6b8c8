// One hop of a diagnosis: what was checked, whether it passed, how long it took, and for a
// failure the reason, the fix and the exit code the same failure has elsewhere (lib/cli/exit.ts).
// A run walks its hops in order and stops at the first failure unless asked for all of them.
import { EXIT, WicketError, type ExitCode } from "../cli/exit.ts";
import { oneLine } from "../cli/log.ts";

export type Hop = {
  hop: string;
  ok: boolean;
  ms: number;
  detail: string;
  reason?: string;
  fix?: string;
  exitCode?: ExitCode;
  /** With --all: not checked, because a hop it needs failed. */
  skipped?: boolean;
};

/** What a check returns: a detail when it passed, or why not. */
export type Outcome = { detail: string } | { reason: string; fix: string; exitCode: ExitCode; detail?: string };

export const pass = (detail: string): Outcome => ({ detail });
export const fail = (reason: string, fix: string, exitCode: ExitCode, detail = ""): Outcome => ({ reason, fix, exitCode, detail });

/** A WicketError as a failed hop: its sentence, its exit code, and the fix given (or the sentence's own advice). */
export const failWith = (e: unknown, fix: string): Outcome =>
  e instanceof WicketError ? fail(e.message, fix, e.exitCode) : fail(`unexpected error: ${(e as Error)?.message ?? String(e)}`, "run with --loglevel debug and report it", EXIT.bug);

/** Runs one check, timed; a throw is a failure with its exit code. */
export async function timed(hop: string, check: () => Promise<Outcome>, fix = "see the reason above"): Promise<Hop> {
  const start = performance.now();
  let o: Outcome;
  try {
    o = await check();
  } catch (e) {
    o = failWith(e, fix);
  }
  const ms = Math.round((performance.now() - start) * 10) / 10;
  return "reason" in o ? { hop, ok: false, ms, detail: o.detail ?? "", reason: o.reason, fix: o.fix, exitCode: o.exitCode } : { hop, ok: true, ms, detail: o.detail };
}

export const skipped = (hop: string, because: string): Hop => ({ hop, ok: false, ms: 0, detail: `not checked: ${because}`, skipped: true });

/**
 * Runs the steps in order. A step returns its hop, several (one per edge, say), or undefined
 * when it does not apply; the walk stops at the first failure unless `all`.
 */
export async function walk(steps: (() => Promise<Hop | Hop[] | undefined>)[], all: boolean): Promise<Hop[]> {
  const hops: Hop[] = [];
  for (const step of steps) {
    for (const h of [(await step()) ?? []].flat()) {
      hops.push(h);
      if (!h.ok && !h.skipped && !all) return hops;
    }
  }
  return hops;
}

/** The run's exit code: the first failed hop's, else 0. */
export const exitCodeOf = (hops: Hop[]): ExitCode => hops.find((h) => !h.ok && !h.skipped)?.exitCode ?? EXIT.ok;

/** One line per hop (and the reason and fix under a failure): ✓/✗ on a terminal, ok/FAIL otherwise. */
export function render(hops: Hop[], tty: boolean): string {
  const width = Math.max(...hops.map((h) => h.hop.length));
  const mark = (h: Hop) => (h.skipped ? (tty ? "–" : "skip") : h.ok ? (tty ? "✓" : "ok") : tty ? "✗" : "FAIL");
  const markWidth = tty ? 1 : 4;
  return hops
    .map((h) => {
      const head = `${mark(h).padEnd(markWidth)} ${h.hop.padEnd(width)} ${`${h.ms.toFixed(0)} ms`.padStart(7)}  `;
      // what the edge said (its version, names, reasons) reaches the terminal as text only
      const [detail, reason, fix] = [h.detail, h.reason, h.fix].map((t) => oneLine(t ?? ""));
      if (h.ok || h.skipped) return `${head}${detail}\n`;
      const pad = " ".repeat(markWidth + 1 + width + 1 + 7 + 2);
      return `${head}${reason}${detail ? ` (${detail})` : ""}\n${pad}fix: ${fix}\n`;
    })
    .join("");
}
