// The live sessions on this edge node: one per open client stream, with who, what, from
// where and how many bytes. Revocation and policy changes cut them here; each one's end is
// written to the audit with its byte counts, duration and reason.
import { log } from "../../cli/log.ts";
import type { Subject } from "../../policy/evaluate.ts";
import { revokedServiceTokens, revokedSessions, writeAudit, type Store } from "../../store/index.ts";
import { Close } from "../../wire/close.ts";
import type { LiveSessionInfo } from "../../wire/live-session.ts";
import { newRecheckCache, reauthorize, type ClientAuth, type Recheck } from "./authorize.ts";

export type { LiveSessionInfo };

export interface LiveSessionHooks {
  /** Bytes so far, client to origin and back. */
  counters(): { toOrigin: number; toClient: number };
  /** Closes the client's WebSocket with this code and reason, and resets its stream. */
  close(code: number, reason: string): void;
  /** The session's recording, named in the audit record of its end (browser terminals). */
  recording?(): string | undefined;
}

type Live = {
  id: string;
  auth: ClientAuth & { subject: Subject };
  startedAt: number;
  hooks: LiveSessionHooks;
};

/** Extra audit fields for a session cut by a decision (a policy change). */
type EndDetail = { policyId?: string; policyName?: string; rule?: string };

const info = (s: Live): LiveSessionInfo => {
  const c = s.hooks.counters();
  return { id: s.id, host: s.auth.host, app: s.auth.app, identity: s.auth.identity, ip: s.auth.ip, startedAt: s.startedAt, bytesToOrigin: c.toOrigin, bytesToClient: c.toClient };
};

/** The audit record of a session's end, and the log line that says so. */
function ending(s: Live, reason: string, detail: EndDetail) {
  const i = info(s);
  const durationMs = Date.now() - s.startedAt;
  const line = `session ${s.id} of ${i.identity} to ${i.host} ended after ${Math.round(durationMs / 1000)} s (${i.bytesToOrigin} B up, ${i.bytesToClient} B down): ${reason}`;
  const { subject } = s.auth;
  const record = {
    kind: "session-end" as const,
    identity: i.identity,
    email: subject.serviceToken ? undefined : subject.email?.toLowerCase(),
    tokenId: subject.serviceToken?.id,
    host: i.host,
    app: i.app,
    ip: i.ip,
    sessionId: s.id,
    resumes: s.auth.resumes?.session,
    bytesToOrigin: i.bytesToOrigin,
    bytesToClient: i.bytesToClient,
    durationMs,
    reason,
    recording: s.hooks.recording?.(),
    ...detail,
  };
  return { line, record };
}

export function createLiveSessions(store: Store) {
  const live = new Map<string, Live>();
  const writes = new Set<Promise<unknown>>();
  let checking: Promise<number> | undefined;
  // When access last changed as far as this node knows (a revocation here, or the store's
  // revision moving). A session whose decision is older than that, registered only now,
  // missed the cut and is re-checked.
  let changedAt = 0;

  /** Ends a session once (later calls do nothing) and writes its end to the audit. */
  function end(id: string | undefined, reason: string, detail: EndDetail = {}): Promise<void> {
    const s = id ? live.get(id) : undefined;
    if (!s) return Promise.resolve();
    live.delete(s.id);
    const { line, record } = ending(s, reason, detail);
    log.info(line);
    const w = writeAudit(store, record)
      .catch((e) => log.error(`audit: cannot record the end of session ${s.id}: ${(e as Error).message}`))
      .finally(() => writes.delete(w));
    writes.add(w);
    return w.then(() => {});
  }

  /** Cuts a live session: the client is told `reason` (close code 4403) and the audit records it. */
  function cut(id: string, reason: string, detail: EndDetail = {}, code: number = Close.denied): boolean {
    const s = live.get(id);
    if (!s) return false;
    void end(id, reason, detail);
    try {
      s.hooks.close(code, reason);
    } catch (e) {
      log.warn(`closing session ${id}: ${(e as Error).message}`);
    }
    return true;
  }

  function cutWhere(match: (s: Live) => boolean, reason: string): string[] {
    changedAt = Date.now();
    const ids = [...live.values()].filter(match).map((s) => s.id);
    for (const id of ids) cut(id, reason);
    return ids;
  }

  /** Re-checks live sessions against the store; cuts those no longer allowed. Returns how many. */
  async function recheckNow(sessions: Live[]): Promise<number> {
    if (sessions.length === 0) return 0;
    const cache = newRecheckCache();
    cache.revokedTokens = await revokedServiceTokens(store, sessions.flatMap((s) => (s.auth.subject.serviceToken ? [s.auth.subject.serviceToken.id] : [])));
    cache.revokedSessions = await revokedSessions(store, sessions.map((s) => s.id));
    let n = 0;
    for (const s of sessions) {
      let r: Recheck;
      try {
        r = await reauthorize(store, s.auth, cache);
      } catch (e) {
        // A store that cannot answer is no reason to throw everyone out; the next pass retries.
        log.warn(`cannot re-check session ${s.id}: ${(e as Error).message}`);
        continue;
      }
      if (r.ok || !live.has(s.id)) continue;
      const d = r.decision;
      cut(s.id, r.reason, d ? { policyId: d.policy?.id, policyName: d.policy?.name, rule: d.rule } : {});
      n++;
    }
    return n;
  }

  /** Access changed: re-checks every live session, one pass at a time (a call while one runs
   * waits for it, then runs again). */
  async function recheck(): Promise<number> {
    changedAt = Date.now();
    while (checking) await checking.catch(() => {});
    checking = recheckNow([...live.values()]);
    try {
      return await checking;
    } finally {
      checking = undefined;
    }
  }

  return {
    /** Registers the session of an allowed client (it must have a sessionId). */
    start(auth: ClientAuth, hooks: LiveSessionHooks): LiveSessionInfo | undefined {
      if (!auth.sessionId || !auth.subject) {
        log.error(`a client to ${auth.host} was let through without a session id; it is not tracked`);
        return undefined;
      }
      const s: Live = { id: auth.sessionId, auth: auth as Live["auth"], startedAt: Date.now(), hooks };
      live.set(s.id, s);
      // this one alone: a pass over every session for each opening that overlaps a change
      // kept a busy edge re-checking back to back, too busy to finish TLS handshakes
      if ((auth.decidedAt ?? 0) <= changedAt) recheckNow([s]).catch((e) => log.warn(`cannot re-check session ${s.id}: ${(e as Error).message}`));
      return info(s);
    },
    end,
    cut,
    get: (id: string) => {
      const s = live.get(id);
      return s ? info(s) : undefined;
    },
    list: (): LiveSessionInfo[] => [...live.values()].map(info).sort((a, b) => a.startedAt - b.startedAt),
    get size() {
      return live.size;
    },
    /** Cuts the sessions of a service token; returns their ids. */
    cutToken: (tokenId: string, reason: string) => cutWhere((s) => s.auth.subject.serviceToken?.id === tokenId, reason),
    /** Cuts the sessions of a user (by e-mail, any case); returns their ids. */
    cutUser: (email: string, reason: string) => cutWhere((s) => !s.auth.subject.serviceToken && s.auth.subject.email?.toLowerCase() === email.toLowerCase(), reason),
    recheck,
    /** Ends every session with `reason` (code 1001) and waits for the audit writes. */
    async closeAll(reason: string) {
      for (const id of [...live.keys()]) cut(id, reason, {}, Close.goingAway);
      await Promise.all([...writes]);
    },
  };
}

export type LiveSessions = ReturnType<typeof createLiveSessions>;
