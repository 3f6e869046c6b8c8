// Device codes of the OAuth 2.0 Device Authorization Grant (RFC 8628). The client holds the
// device code (a secret: only its hash is stored) and polls; the person types or follows the
// short user code in a browser and approves. A code is redeemed at most once.
import { hashSecret, randomId, randomSecret } from "../auth/secret.ts";
import type { BigIntColumn, Store } from "./open.ts";
import { ALL_ROWS, isUniqueViolation, ms } from "./open.ts";
import { normalizeUserCode, USER_CODE_ALPHABET } from "../wire/user-code.ts";

export { normalizeUserCode };

/** app: an app token; tunnel: a zone credential (`tunnel login`); admin: an admin session (`edge login`). */
export type DevicePurpose = "app" | "tunnel" | "admin";
export type DeviceStatus = "pending" | "approved" | "denied" | "consumed";

export type DeviceCode = {
  id: string;
  userCode: string;
  purpose: DevicePurpose;
  /** The application hostname an "app" code asks a token for. */
  app?: string;
  clientIp: string;
  status: DeviceStatus;
  /** Why it was denied: the sentence the browser showed, for the client to print. */
  reason?: string;
  /** The browser session that approved it. */
  sessionId?: string;
  /** The zone picked for a "tunnel" code. */
  zone?: string;
  /** The interval the client was told to poll at; how fast it polls is kept in memory (lib/edge/signin/poll-pace.ts). */
  intervalMs: number;
  createdAt: number;
  expiresAt: number;
};

type DeviceCodeRow = {
  id: string;
  code_hash: string;
  user_code: string;
  purpose: DevicePurpose;
  app: string | null;
  client_ip: string;
  status: DeviceStatus;
  reason: string | null;
  session_id: string | null;
  zone: string | null;
  interval_ms: BigIntColumn;
  last_poll_at: BigIntColumn | null;
  created_at: BigIntColumn;
  expires_at: BigIntColumn;
};

const toDevice = (r: DeviceCodeRow): DeviceCode => {
  const d: DeviceCode = { id: r.id, userCode: r.user_code, purpose: r.purpose, clientIp: r.client_ip, status: r.status, intervalMs: ms(r.interval_ms), createdAt: ms(r.created_at), expiresAt: ms(r.expires_at) };
  if (r.app) d.app = r.app;
  if (r.reason) d.reason = r.reason;
  if (r.session_id) d.sessionId = r.session_id;
  if (r.zone) d.zone = r.zone;
  return d;
};


function randomUserCode(): string {
  const out: string[] = [];
  while (out.length < 8) {
    for (const b of crypto.getRandomValues(new Uint8Array(16))) {
      if (b >= 240) continue; // 240 = 12 * 20: keeps the choice uniform
      out.push(USER_CODE_ALPHABET[b % 20]!);
      if (out.length === 8) break;
    }
  }
  return `${out.slice(0, 4).join("")}-${out.slice(4).join("")}`;
}


/**
 * Pending codes the edge keeps at most; a new one past this pushes out the oldest. Anyone may
 * start a code, and no limit shared by the edge may refuse someone who has not used their own
 * share, so the store is bounded here instead: to push out a person's code in the minute they
 * take to approve it, a flood must start 10,000 a minute, from some 500 addresses' shares.
 */
export const MAX_PENDING_DEVICE_CODES = 10_000;

/** A new pending code; `deviceCode` is the client's secret and is not stored. */
export async function createDeviceCode(
  store: Store,
  d: { purpose: DevicePurpose; app?: string; clientIp: string; lifetimeMs: number; intervalMs: number; maxPending?: number },
): Promise<DeviceCode & { deviceCode: string }> {
  const id = randomId("wkd_");
  const deviceCode = randomSecret();
  const createdAt = Date.now();
  const expiresAt = createdAt + d.lifetimeMs;
  // Stale codes go here rather than in a timer: every new code sweeps the expired ones.
  await store.sql`DELETE FROM device_codes WHERE expires_at < ${createdAt - 3_600_000}`;
  for (let attempt = 0; ; attempt++) {
    const userCode = randomUserCode();
    try {
      await store.sql`INSERT INTO device_codes (id, code_hash, user_code, purpose, app, client_ip, status, interval_ms, created_at, expires_at)
        VALUES (${id}, ${hashSecret(deviceCode)}, ${userCode}, ${d.purpose}, ${d.app ?? null}, ${d.clientIp}, ${"pending"}, ${d.intervalMs}, ${createdAt}, ${expiresAt})`;
      await store.sql`DELETE FROM device_codes WHERE id IN (SELECT id FROM device_codes WHERE status = ${"pending"}
        ORDER BY created_at DESC, id DESC LIMIT ${ALL_ROWS} OFFSET ${d.maxPending ?? MAX_PENDING_DEVICE_CODES})`;
      return { id, userCode, purpose: d.purpose, app: d.app, clientIp: d.clientIp, status: "pending", intervalMs: d.intervalMs, createdAt, expiresAt, deviceCode };
    } catch (e) {
      if (!isUniqueViolation(e) || attempt >= 5) throw e;
    }
  }
}

export async function findDeviceByUserCode(store: Store, userCode: string): Promise<DeviceCode | undefined> {
  const code = normalizeUserCode(userCode);
  if (!code) return undefined;
  const [row]: DeviceCodeRow[] = await store.sql`SELECT * FROM device_codes WHERE user_code = ${code}`;
  return row ? toDevice(row) : undefined;
}

export async function findDeviceByCode(store: Store, deviceCode: string): Promise<DeviceCode | undefined> {
  if (typeof deviceCode !== "string" || !deviceCode) return undefined;
  const [row]: DeviceCodeRow[] = await store.sql`SELECT * FROM device_codes WHERE code_hash = ${hashSecret(deviceCode)}`;
  return row ? toDevice(row) : undefined;
}

/** Settles a pending code; false when it was no longer pending (settled in another tab). */
export async function settleDeviceCode(store: Store, id: string, s: { status: "approved" | "denied"; sessionId: string; reason?: string; zone?: string }): Promise<boolean> {
  const rows = await store.sql`UPDATE device_codes SET status = ${s.status}, session_id = ${s.sessionId}, reason = ${s.reason ?? null}, zone = ${s.zone ?? null}
    WHERE id = ${id} AND status = ${"pending"} AND expires_at > ${Date.now()} RETURNING id`;
  return rows.length === 1;
}

/** Marks an approved code redeemed; false when another poll redeemed it first. */
export async function consumeDeviceCode(store: Store, id: string): Promise<boolean> {
  const rows = await store.sql`UPDATE device_codes SET status = ${"consumed"} WHERE id = ${id} AND status = ${"approved"} RETURNING id`;
  return rows.length === 1;
}
