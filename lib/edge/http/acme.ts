// `--tls acme`: certificates from an ACME (RFC 8555) CA, Let's Encrypt by default, for the
// edge's own host and every application hostname, ordered with acme-client. The names are
// those in the store (never a client's SNI, so a stranger cannot make us order); a name is
// ordered when it appears, renewed at two thirds of its lifetime, retried with backoff, and
// forgotten when its application is removed. Results go to the store, whose access revision
// tells every node to serve them (lib/edge/http/listener.ts). Names are proved by TLS-ALPN-01 on the
// edge's own port (lib/edge/http/tls-front.ts), by HTTP-01 on a plain-HTTP listener, or by DNS-01
// through a hook (lib/edge/http/acme-challenges.ts); a wildcard only by DNS-01.
import type * as AcmeClient from "acme-client";
import { Agent } from "node:https";
import { isIP } from "node:net";
import { configError } from "../../cli/exit.ts";
import { log } from "../../cli/log.ts";
import { readCaFile } from "../../cli/values.ts";
import {
  acmeAccountKey,
  deleteAcmeChallenge,
  getAcmeCertificate,
  getAcmeChallenge,
  listAcmeCertificates,
  listApps,
  putAcmeChallenge,
  recordAcmeFailure,
  saveAcmeCertificate,
  syncAcmeNames,
  withOrderLock,
  type AcmeCertificate,
  type Store,
} from "../../store/index.ts";
import { alpnChallengeToken, dns01RecordName, runDnsHook, serveHttp01 } from "./acme-challenges.ts";
import { coalesced } from "../runtime/coalesce.ts";
import type { EdgeMetrics } from "../runtime/metrics.ts";
import type { ChallengeCert } from "./tls-front.ts";

export const LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory";
export const LETS_ENCRYPT_STAGING = "https://acme-staging-v02.api.letsencrypt.org/directory";

export type AcmeChallenge = "tls-alpn-01" | "http-01" | "dns-01";
export const ACME_CHALLENGES: readonly AcmeChallenge[] = ["tls-alpn-01", "http-01", "dns-01"];

export type AcmeSettings = {
  email: string;
  /** How names other than wildcards are proved. */
  challenge: AcmeChallenge;
  /** The directory URL (Let's Encrypt's by default). */
  directory: string;
  /** A CA to trust for the directory's own HTTPS (a private ACME server). */
  caFile?: string;
  /** HOST:PORT of the plain-HTTP listener that answers HTTP-01 and redirects to HTTPS. */
  httpListen?: string;
  /** The DNS-01 hook, needed for wildcard applications. */
  dnsHook?: string;
};

/** `--acme-directory`: a URL, or `letsencrypt` / `staging` for Let's Encrypt's two. */
export function acmeDirectory(v: string | undefined): string {
  if (!v || v === "letsencrypt") return LETS_ENCRYPT;
  if (v === "staging" || v === "letsencrypt-staging") return LETS_ENCRYPT_STAGING;
  return v;
}

const RETRY_BASE_MS = 30_000;
const RETRY_MAX_MS = 6 * 3_600_000;
/** The longest the loop sleeps; a name added meanwhile wakes it through the access revision. */
const MAX_SLEEP_MS = 3_600_000;

interface AcmeRoom {
  store: Store;
  settings: AcmeSettings;
  client: AcmeClient.Client;
  /** acme-client, loaded when ACME starts: an edge without `--tls acme` never loads it. */
  lib: typeof AcmeClient;
  metrics: EdgeMetrics;
  edgeHost(): string;
  timer?: ReturnType<typeof setTimeout>;
  stopped: boolean;
  /** A check, one at a time; a request during one runs another after it. */
  sync: () => Promise<void>;
}

export interface Acme {
  /** Orders what is due and forgets what is no longer wanted; runs on every access change. */
  sync(): Promise<void>;
  /** Orders `name` now, due or not; the stored result. */
  renew(name: string): Promise<AcmeCertificate>;
  /** The TLS-ALPN-01 certificate for `name` while the CA validates it (any node may be asked). */
  alpnChallenge(name: string): Promise<ChallengeCert | undefined>;
  stop(): void;
}

/** When a certificate should be renewed: two thirds into its lifetime. */
export const renewAt = (c: { notBefore: number; notAfter: number }) => c.notBefore + Math.floor(((c.notAfter - c.notBefore) * 2) / 3);

/** When to order `c` next. */
export function dueAt(c: AcmeCertificate, now = Date.now()): number {
  if (c.failures > 0 && c.retryAt !== undefined) return c.retryAt;
  if (!c.certPem || c.notBefore === undefined || c.notAfter === undefined) return now;
  return renewAt({ notBefore: c.notBefore, notAfter: c.notAfter });
}

/** After `failures` failed attempts: doubling from 30 s to 6 h, and never so late that the
 * certificate expires before the next try. */
export function retryDelay(failures: number, notAfter: number | undefined, now = Date.now()): number {
  const backoff = Math.min(RETRY_BASE_MS * 2 ** Math.max(0, failures - 1), RETRY_MAX_MS);
  return notAfter === undefined ? backoff : Math.max(1_000, Math.min(backoff, Math.floor((notAfter - now) / 4)));
}

/** The names the edge wants certificates for: its own host (unless an IP address) and every application. */
export async function wantedNames(store: Store, edgeHost: string): Promise<string[]> {
  const apps = (await listApps(store)).map((a) => a.hostname);
  return [...new Set([...(isIP(edgeHost) ? [] : [edgeHost]), ...apps])];
}

/** The challenge that proves `name`: DNS-01 for a wildcard (the only one a CA accepts), else the edge's. */
export function challengeFor(name: string, s: Pick<AcmeSettings, "challenge" | "dnsHook">): AcmeChallenge {
  if (name.startsWith("*.") && !s.dnsHook) throw new Error(`${name} is a wildcard, which ACME CAs prove only by DNS-01: give the edge --acme-dns-hook /path/to/script (called with present|cleanup, the record name and its value)`);
  return name.startsWith("*.") ? "dns-01" : s.challenge;
}

const fmtDuration = (ms: number) => (ms >= 2 * 86_400_000 ? `${Math.round(ms / 86_400_000)}d` : ms >= 2 * 3_600_000 ? `${Math.round(ms / 3_600_000)}h` : ms >= 120_000 ? `${Math.round(ms / 60_000)}m` : `${Math.max(0, Math.round(ms / 1000))}s`);

/** One order with the CA: a fresh key, the challenge answered, the chain. */
async function order(room: AcmeRoom, name: string) {
  const type = challengeFor(name, room.settings);
  const { crypto } = room.lib;
  const [keyPem, csr] = await crypto.createCsr({ altNames: [name] }, await crypto.createPrivateEcdsaKey());
  const certPem = await room.client.auto({
    csr,
    email: room.settings.email,
    termsOfServiceAgreed: true,
    challengePriority: [type],
    // acme-client's own check resolves names through the system's DNS, which need not be the CA's.
    skipChallengeVerification: true,
    async challengeCreateFn(authz, challenge, keyAuthorization) {
      const type = challenge.type as AcmeChallenge;
      if (type === "http-01") return putAcmeChallenge(room.store, challenge.token, keyAuthorization);
      if (type === "tls-alpn-01") return putAcmeChallenge(room.store, alpnChallengeToken(authz.identifier.value), keyAuthorization);
      await runDnsHook(room.settings.dnsHook!, "present", dns01RecordName(authz.identifier.value), keyAuthorization);
    },
    async challengeRemoveFn(authz, challenge, keyAuthorization) {
      const type = challenge.type as AcmeChallenge;
      if (type === "http-01") return deleteAcmeChallenge(room.store, challenge.token);
      if (type === "tls-alpn-01") return deleteAcmeChallenge(room.store, alpnChallengeToken(authz.identifier.value));
      await runDnsHook(room.settings.dnsHook!, "cleanup", dns01RecordName(authz.identifier.value), keyAuthorization).catch((e: Error) => log.warn(`acme: ${e.message}`));
    },
  });
  const info = crypto.readCertificateInfo(certPem);
  return { name, certPem, keyPem: keyPem.toString(), issuer: info.issuer.commonName ?? "", notBefore: info.notBefore.getTime(), notAfter: info.notAfter.getTime() };
}

/**
 * Orders `name` if it is due (or `force`), on the one node that holds its lock; records the
 * result or the failure. Undefined when another node holds the lock or nothing was due.
 */
async function attempt(room: AcmeRoom, name: string, force: boolean): Promise<AcmeCertificate | undefined> {
  return withOrderLock(room.store, name, async (sql) => {
    const before = await getAcmeCertificate(sql, name);
    if (!before) return undefined; // removed meanwhile
    const now = Date.now();
    if (!force && dueAt(before, now) > now) return undefined; // another node renewed it just now
    const why = !before.certPem ? "first certificate" : force ? "renewal asked for" : "renewal";
    log.info(`acme: ordering a certificate for ${name} (${why}) from ${room.settings.directory}`);
    try {
      const c = await order(room, name);
      await saveAcmeCertificate(sql, c);
      room.metrics.acmeOrders.inc({ result: "issued" });
      room.metrics.certificateExpiry.set(c.notAfter / 1000, { name });
      log.info(`acme: certificate for ${name} issued by ${c.issuer}, valid until ${new Date(c.notAfter).toISOString()}`);
    } catch (e) {
      const error = (e as Error).message || String(e);
      const failures = before.failures + 1;
      const retryAt = now + retryDelay(failures, before.notAfter, now);
      await recordAcmeFailure(sql, name, error, retryAt);
      room.metrics.acmeOrders.inc({ result: "failed" });
      const next = `next attempt in ${fmtDuration(retryAt - now)}`;
      if (before.notAfter !== undefined) {
        // Loud: the edge serves this certificate until it expires, and then clients refuse it.
        log.error(`acme: WARNING: the certificate for ${name} expires at ${new Date(before.notAfter).toISOString()} (in ${fmtDuration(before.notAfter - now)}) and could not be renewed: ${error}; ${next}`);
      } else {
        log.error(`acme: cannot obtain a certificate for ${name}: ${error}; ${next}`);
      }
    }
    return getAcmeCertificate(sql, name);
  });
}

async function pass(room: AcmeRoom) {
  const wanted = await wantedNames(room.store, room.edgeHost());
  for (const name of await syncAcmeNames(room.store, wanted)) log.info(`acme: no longer renewing the certificate for ${name}: it names no application now`);
  const now = Date.now();
  for (const c of await listAcmeCertificates(room.store)) {
    if (room.stopped) return;
    if (c.notAfter !== undefined) room.metrics.certificateExpiry.set(c.notAfter / 1000, { name: c.name });
    if (dueAt(c, now) <= now) await attempt(room, c.name, false);
  }
}

/** Sleeps until the next certificate is due (or the longest sleep). */
async function schedule(room: AcmeRoom) {
  if (room.stopped) return;
  const now = Date.now();
  const next = Math.min(now + MAX_SLEEP_MS, ...(await listAcmeCertificates(room.store)).map((c) => dueAt(c, now)));
  clearTimeout(room.timer);
  room.timer = setTimeout(() => void room.sync(), Math.max(1_000, next - now));
  room.timer.unref?.();
}

/** One check of every certificate, then the timer for the next: run by `room.sync`. */
async function check(room: AcmeRoom) {
  if (room.stopped) return;
  try {
    await pass(room);
  } catch (e) {
    log.warn(`acme: cannot check the certificates: ${(e as Error).message}`);
  }
  await schedule(room).catch((e: Error) => log.warn(`acme: ${e.message}`));
  log.debug("acme: every certificate checked against the store");
}

/** Starts ACME for the edge: the account, the HTTP-01 listener if asked for, the renewal loop. */
export async function startAcme(opts: { store: Store; settings: AcmeSettings; metrics: EdgeMetrics; edgeHost(): string; publicUrl(): string }): Promise<Acme> {
  const { store, settings } = opts;
  const ca = await readCaFile(settings.caFile).catch((e: Error) => {
    throw configError(e.message.replace("--ca-file", "--acme-ca-file"));
  });
  const acme = await import("acme-client");
  // acme-client's one HTTP client: trust the directory's CA, and leave retries to our backoff.
  if (ca) acme.axios.defaults.httpsAgent = new Agent({ ca });
  Object.assign((acme.axios.defaults as { acmeSettings?: object }).acmeSettings ?? {}, { retryMaxAttempts: 2, retryDefaultDelay: 1 });
  const accountKey = await acmeAccountKey(store, settings.directory, settings.email, async () => (await acme.crypto.createPrivateEcdsaKey()).toString());
  const client = new acme.Client({ directoryUrl: settings.directory, accountKey, backoffMin: 500, backoffMax: 10_000 });
  const http = settings.httpListen ? serveHttp01(settings.httpListen, store, opts.publicUrl) : undefined;
  if (http) log.info(`acme: answering HTTP-01 on http://${http.hostname}:${http.port} (everything else there is redirected to HTTPS)`);
  if (settings.challenge === "tls-alpn-01") log.info("acme: answering TLS-ALPN-01 on this edge's port (the CA connects to port 443 of each name: it must reach this listener)");
  const room: AcmeRoom = { store, settings, client, lib: acme, metrics: opts.metrics, edgeHost: opts.edgeHost, stopped: false, sync: () => Promise.resolve() };
  room.sync = coalesced(() => check(room));
  void room.sync();
  // one certificate per challenge, made when the CA first asks (it asks several times, from several places)
  const alpnCerts = new Map<string, Promise<ChallengeCert>>();
  return {
    sync: () => room.sync(),
    async alpnChallenge(name) {
      const keyAuthorization = await getAcmeChallenge(store, alpnChallengeToken(name));
      if (!keyAuthorization) return undefined;
      const key = `${name} ${keyAuthorization}`;
      let made = alpnCerts.get(key);
      if (!made) {
        if (alpnCerts.size >= 64) alpnCerts.clear(); // challenges are few and short-lived
        const authz = { identifier: { type: "dns", value: name } } as AcmeClient.Authorization;
        made = acme.crypto.createAlpnCertificate(authz, keyAuthorization).then(([keyPem, certPem]) => ({ key: keyPem.toString(), cert: certPem.toString() }));
        made.catch(() => alpnCerts.delete(key)); // the next validation tries again
        alpnCerts.set(key, made);
      }
      return made;
    },
    async renew(name) {
      const c = (await listAcmeCertificates(store)).find((x) => x.name === name);
      if (!c) throw new Error(`there is no certificate for ${name}: the edge orders them for its own host and its applications`);
      const after = await attempt(room, name, true);
      if (!after) throw new Error(`another edge node is ordering the certificate for ${name} now; try again in a minute`);
      void schedule(room);
      return after;
    },
    stop() {
      room.stopped = true;
      clearTimeout(room.timer);
      http?.stop(true);
    },
  };
}
