// Records kept for a while (audit, recordings): removed past their retention now and every hour.
import { log } from "../../cli/log.ts";
import { pruneAudit, pruneRecordings, type Store } from "../../store/index.ts";

/** Removes `what` (audit records, recordings) older than the retention now and every hour; returns the stop. */
export async function keepFor(what: string, retentionMs: number, remove: (before: number) => Promise<number>): Promise<() => void> {
  if (retentionMs <= 0) return () => {};
  const prune = async () => {
    try {
      const n = await remove(Date.now() - retentionMs);
      if (n > 0) log.info(`${what}: removed ${n} older than the retention period`);
    } catch (e) {
      log.warn(`${what}: pruning failed: ${(e as Error).message}`);
    }
  };
  await prune();
  const timer = setInterval(prune, Math.min(retentionMs, 3_600_000));
  timer.unref?.();
  return () => clearInterval(timer);
}

/** The edge's audit and browser-terminal recordings, each kept for its retention; returns the stop. */
export async function keepRecords(store: Store, auditMs: number, recordingsMs: number): Promise<() => void> {
  const stops = [await keepFor("audit", auditMs, (before) => pruneAudit(store, before)), await keepFor("recordings", recordingsMs, (before) => pruneRecordings(store, before))];
  return () => stops.forEach((stop) => stop());
}
