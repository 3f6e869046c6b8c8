// SSH in the browser, per application (issue 16): whether it is on, whether its sessions are
// recorded, the server's host key pinned on first use, and the one-time codes that carry a
// browser's sign-in from the edge's own host to the application's hostname.
import { hashSecret, randomSecret, verifySecret } from "../auth/secret.ts";
import type { BigIntColumn, Store } from "./open.ts";
import { msOrUndefined } from "./open.ts";
import { invalid, notFound } from "./errors.ts";
import { bumpAccessRevision } from "./revision.ts";
import { findApp } from "./zones.ts";

export type BrowserSsh = {
  enabled: boolean;
  record: boolean;
  recordInput: boolean;
  /** The bytes a recording may take (`app edit --recording-limit`); unset: the edge's default. */
  recordingLimit?: number;
  /** `ssh-ed25519 AAAA…`: the server's key, pinned the first time a session reached it. */
  hostKey?: string;
  hostKeyPinnedAt?: number;
  /** The last key a server offered that was not the pinned one, for `app edit --accept-host-key`. */
  refusedHostKey?: string;
};

type Row = { enabled: number; record: number; record_input: number; recording_limit: BigIntColumn | null; host_key: string | null; host_key_pinned_at: BigIntColumn | null; refused_host_key: string | null };

export const BROWSER_SSH_OFF: BrowserSsh = { enabled: false, record: false, recordInput: false };

const toSettings = (r: Row | undefined): BrowserSsh =>
  r
    ? {
        enabled: Number(r.enabled) === 1,
        record: Number(r.record) === 1,
        recordInput: Number(r.record_input) === 1,
        recordingLimit: r.recording_limit === null ? undefined : Number(r.recording_limit),
        hostKey: r.host_key ?? undefined,
        hostKeyPinnedAt: msOrUndefined(r.host_key_pinned_at),
        refusedHostKey: r.refused_host_key ?? undefined,
      }
    : { ...BROWSER_SSH_OFF };

/** The settings of the application (hostname or `*.zone`, as stored). */
export async function browserSsh(store: Store, app: string): Promise<BrowserSsh> {
  const [row]: Row[] = await store.sql`SELECT * FROM browser_ssh_apps WHERE app = ${app}`;
  return toSettings(row);
}

/** Every application's settings that are not all off. */
export async function allBrowserSsh(store: Store): Promise<Map<string, BrowserSsh>> {
  const rows: (Row & { app: string })[] = await store.sql`SELECT * FROM browser_ssh_apps`;
  return new Map(rows.map((r) => [r.app, toSettings(r)]));
}

/** `recordingLimit: null` goes back to the edge's default. */
export type BrowserSshChanges = { enabled?: boolean; record?: boolean; recordInput?: boolean; recordingLimit?: number | null; acceptHostKey?: boolean };

/** The smallest limit a recording may have: its header and a screenful or two. */
export const MIN_RECORDING_LIMIT = 64 * 1024;

export async function setBrowserSsh(store: Store, hostname: string, c: BrowserSshChanges): Promise<BrowserSsh> {
  const app = await findApp(store, hostname);
  if (!app || app.hostname !== hostname) throw notFound(`there is no application "${hostname}"`);
  const now = await browserSsh(store, hostname);
  const next = { enabled: c.enabled ?? now.enabled, record: c.record ?? now.record, recordInput: c.recordInput ?? now.recordInput };
  if (next.recordInput && !next.record) throw invalid("--record-input records keystrokes into a recording: pass --record as well");
  if (c.recordingLimit != null && (!Number.isSafeInteger(c.recordingLimit) || c.recordingLimit < MIN_RECORDING_LIMIT)) throw invalid(`a recording limit is a whole number of bytes, at least ${MIN_RECORDING_LIMIT} (64 KiB)`);
  const limit = c.recordingLimit === undefined ? (now.recordingLimit ?? null) : c.recordingLimit;
  if (c.acceptHostKey && !now.refusedHostKey && !now.hostKey) throw invalid(`${hostname} has no host key to accept: none was pinned or refused yet`);
  // accepting: the key the server offered last becomes the pin (none offered: the next one seen is)
  const hostKey = c.acceptHostKey ? (now.refusedHostKey ?? null) : (now.hostKey ?? null);
  const pinnedAt = c.acceptHostKey ? (hostKey ? Date.now() : null) : (now.hostKeyPinnedAt ?? null);
  await store.sql.begin(async (tx) => {
    await tx`INSERT INTO browser_ssh_apps (app, enabled, record, record_input, recording_limit, host_key, host_key_pinned_at, refused_host_key)
      VALUES (${hostname}, ${next.enabled ? 1 : 0}, ${next.record ? 1 : 0}, ${next.recordInput ? 1 : 0}, ${limit}, ${hostKey}, ${pinnedAt}, ${null})
      ON CONFLICT (app) DO UPDATE SET enabled = excluded.enabled, record = excluded.record, record_input = excluded.record_input, recording_limit = excluded.recording_limit,
        host_key = excluded.host_key, host_key_pinned_at = excluded.host_key_pinned_at, refused_host_key = ${c.acceptHostKey ? null : (now.refusedHostKey ?? null)}`;
    await bumpAccessRevision(tx); // a terminal open on an application that turned browser SSH off, or recording on, is cut
  });
  return browserSsh(store, hostname);
}

/**
 * Checks `offered` against the application's pin: pins it when there is none yet (the first
 * to pin wins, on any node), remembers it as refused when it differs.
 */
export async function checkHostKey(store: Store, app: string, offered: string): Promise<{ ok: true } | { ok: false; pinned: string }> {
  await store.sql`UPDATE browser_ssh_apps SET host_key = ${offered}, host_key_pinned_at = ${Date.now()} WHERE app = ${app} AND host_key IS NULL`;
  const s = await browserSsh(store, app);
  if (s.hostKey === offered) return { ok: true };
  await store.sql`UPDATE browser_ssh_apps SET refused_host_key = ${offered} WHERE app = ${app}`;
  return { ok: false, pinned: s.hostKey ?? "" };
}

/** A one-time code for `host` that `takeHandoff` turns into `token` once, within `lifetimeMs`,
 * for the browser that holds `state` only. */
export async function createHandoff(store: Store, host: string, token: string, state: string, lifetimeMs = 60_000): Promise<string> {
  const code = randomSecret();
  const now = Date.now();
  await store.sql`DELETE FROM browser_handoffs WHERE expires_at < ${now}`;
  await store.sql`INSERT INTO browser_handoffs (code_hash, host, token, expires_at, browser_hash) VALUES (${hashSecret(code)}, ${host}, ${token}, ${now + lifetimeMs}, ${hashSecret(state)})`;
  return code;
}

/** The token of the code, once, if one of `states` (the browser's hand-offs under way) started it. */
export async function takeHandoff(store: Store, host: string, code: string, states: string[]): Promise<{ token: string; state: string } | undefined> {
  const hash = hashSecret(code);
  const [row]: { host: string; token: string; expires_at: BigIntColumn; browser_hash: string }[] = await store.sql`DELETE FROM browser_handoffs WHERE code_hash = ${hash} RETURNING host, token, expires_at, browser_hash`;
  if (!row || row.host !== host || Number(row.expires_at) <= Date.now()) return undefined;
  const state = states.find((s) => s !== "" && verifySecret(s, row.browser_hash));
  return state ? { token: row.token, state } : undefined;
}
