// wicket edge audit: the audit trail (decisions, session ends, admin actions), filtered,
// once or followed as it grows.
import { defineCommand } from "citty";
import { getAudit, resolveAdminConnection } from "../lib/admin-client/client.ts";
import { bytes, printLine } from "../lib/admin-client/output.ts";
import { sleep } from "../lib/async.ts";
import { adminArgs } from "../lib/cli/args.ts";
import { usageError } from "../lib/cli/exit.ts";
import { init, runCommand, shutdownSignal } from "../lib/cli/run.ts";
import { durationMs, formatDuration, parseCount } from "../lib/cli/values.ts";
import type { AuditQuery, AuditRecord } from "../lib/store/index.ts";

const FOLLOW_EVERY_MS = 1000;
// Records from several writers can land slightly out of order: each poll looks back this far
// and skips what it already printed.
const FOLLOW_LOOKBACK_MS = 10_000;

/** `1h`, `30m`, `7d` ago, or an ISO 8601 time. */
function parseSince(raw: string): number {
  const ago = durationMs(raw);
  if (ago !== undefined) return Date.now() - ago;
  const t = Date.parse(raw);
  if (Number.isNaN(t)) throw usageError(`--since "${raw}" is neither a duration (1h, 7d) nor a time (2024-05-01T12:00:00Z)`);
  return t;
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/(\.\d+)?Z$/, "Z");

/** A session's resumes, as its first decision lists them: when, from where, after how long a gap. */
const resumptionWords = (r: AuditRecord) =>
  r.resumptions?.length ? `; resumed ${r.resumptions.map((x) => `${iso(x.at)} from ${x.from ?? "-"}${x.gapMs === undefined ? "" : ` after ${formatDuration(x.gapMs)}`}`).join(", ")}` : "";

/** One line per record: time, what, host, who, address, session, and why. A resume whose
 * session's start is not among the records shown says which session it resumes. */
export function formatRecord(r: AuditRecord): string {
  const cols = (what: string, ...rest: (string | undefined)[]) => [iso(r.at), what.padEnd(6), ...rest.map((c) => c || "-")].join("  ");
  if (r.kind === "admin") return cols("admin", r.host, r.actor, undefined, r.sessionId, `${r.action}: ${r.reason}`);
  if (r.kind === "session-end") {
    const how = `${bytes(r.bytesToOrigin ?? 0)} up, ${bytes(r.bytesToClient ?? 0)} down, ${((r.durationMs ?? 0) / 1000).toFixed(1)} s`;
    return cols("end", r.host, r.identity, r.ip, r.sessionId, `${how}: ${r.reason}${r.recording ? ` (recording ${r.recording})` : ""}`);
  }
  if (r.resumes) return cols(r.allowed ? "resume" : "deny", r.host, r.identity, r.ip, r.sessionId, `resumes ${r.resumes}${r.gapMs === undefined ? "" : ` after ${formatDuration(r.gapMs)}`}: ${r.reason}`);
  return cols(r.allowed ? "allow" : "deny", r.host, r.identity, r.ip, r.sessionId, `${r.reason}${resumptionWords(r)}`);
}

const cmd = defineCommand({
  meta: { name: "audit", description: "show the audit trail: every decision, session end and admin action, oldest first" },
  args: {
    ...adminArgs,
    follow: { type: "boolean", description: "keep printing new records as they come", default: false },
    since: { type: "string", description: "only records since then: a duration ago (1h, 7d) or a time (2024-05-01T12:00:00Z)", valueHint: "when" },
    user: { type: "string", description: "only records about this user (e-mail), service token (name or id) or admin", valueHint: "who" },
    host: { type: "string", description: "only records about this hostname or application", valueHint: "hostname" },
    session: { type: "string", description: "one session: its decision with its resumptions, and its ends", valueHint: "id" },
    denied: { type: "boolean", description: "only decisions that denied", default: false },
    limit: { type: "string", description: "at most this many, the newest (default 1000; 10 with --follow and no --since)", valueHint: "n" },
  },
  async run({ args }) {
    init(args);
    // Before the first request: SIGINT/SIGTERM must end a follow cleanly (exit 0) whenever it comes.
    const signal = args.follow ? shutdownSignal() : undefined;
    const conn = resolveAdminConnection(args);
    const filter: AuditQuery = { user: args.user, host: args.host, session: args.session, denied: args.denied };
    const since = args.since ? parseSince(args.since) : undefined;
    const limit = parseCount(args.limit, "limit", args.follow && since === undefined ? 10 : 1000, 1);
    // JSON is one object per line, so that --follow can stream it.
    const print = (r: AuditRecord) => printLine(args.json ? JSON.stringify(r) : formatRecord(r));

    const first = await getAudit(conn, { ...filter, since, limit });
    first.forEach(print);
    if (!signal) return;

    const seen = new Map(first.map((r) => [r.id, r.at]));
    let cursor = Math.max(since ?? 0, Date.now() - FOLLOW_LOOKBACK_MS, ...first.map((r) => r.at));
    while (!signal.aborted) {
      if (!(await sleep(FOLLOW_EVERY_MS, signal))) break;
      const from = cursor - FOLLOW_LOOKBACK_MS;
      // a resume of a session printed already comes on its own line
      for (const r of await getAudit(conn, { ...filter, since: from, limit: 10_000, apart: true })) {
        if (seen.has(r.id)) continue;
        seen.set(r.id, r.at);
        print(r);
        cursor = Math.max(cursor, r.at);
      }
      for (const [id, at] of seen) if (at < from) seen.delete(id);
    }
  },
});

export default cmd;

if (import.meta.main) runCommand(cmd);
