// Resuming is a new decision, not a bypass (issue 30): a client that comes back after a cut is
// decided again with its credentials, and its ticket must be the edge's, for this identity and
// application, and for a cut not resumed yet. Real edge, connector and sshd; the client here is
// the real client's own dialer (lib/access/dial.ts), which lets the test hold tickets and replay
// them as an attacker who copied one would.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFile } from "node:fs/promises";
import { ClosedError, dialApp, isResumable, takeHeld, type DialOptions } from "../../lib/access/dial.ts";
import { TICKET_PREFIX } from "../../lib/wire/client.ts";
import { Close } from "../../lib/wire/close.ts";
import { startConnector, type Connector } from "../helpers/connector.ts";
import { metricsUrl, scrape } from "../helpers/metrics.ts";
import { startSshd, type Sshd } from "../helpers/sshd.ts";
import { tempDir, type TempDir } from "../helpers/tmp.ts";
import { startEdge, type ServiceToken, type TestEdge } from "../helpers/wicket.ts";

const HOST = "ssh.site.test";
const OTHER = "other.site.test";
let dir: TempDir;
let sshd: Sshd;
let edge: TestEdge;
let connector: Connector;
let otherConnector: Connector;
let tokens: { ssh: ServiceToken; other: ServiceToken };
let ca: string;

beforeAll(async () => {
  dir = await tempDir("wicket-resume-attack-");
  sshd = await startSshd();
  edge = await startEdge({ dir, extra: ["--metrics", "127.0.0.1:0"] });
  tokens = { ssh: await edge.app(HOST), other: await edge.app(OTHER) };
  ca = await readFile(edge.caFile, "utf8");
  connector = await startConnector(edge, ["--hostname", HOST, "--url", `ssh://127.0.0.1:${sshd.port}`], { wait: 1 });
  otherConnector = await startConnector(edge, ["--hostname", OTHER, "--url", `ssh://127.0.0.1:${sshd.port}`], { wait: 1 });
});
afterAll(async () => {
  await connector?.[Symbol.asyncDispose]();
  await otherConnector?.[Symbol.asyncDispose]();
  await edge?.[Symbol.asyncDispose]();
  await sshd?.[Symbol.asyncDispose]();
  await dir?.[Symbol.asyncDispose]();
});

const opts = (hostname: string, token: ServiceToken, resumeTicket?: string): DialOptions => ({ hostname, edge: edge.url, ca, serviceToken: { id: token.id, secret: token.secret }, resumeTicket, resumable: true });

/** A resumable stream and the first ticket the edge gave for it. */
async function resumable(o: DialOptions): Promise<{ ws: WebSocket; ticket: string }> {
  const ws = await dialApp(o);
  expect(isResumable(ws)).toBe(true);
  const held = takeHeld(ws)!;
  const ticket = await new Promise<string>((resolve) => {
    const look = (m: unknown) => typeof m === "string" && m.startsWith(TICKET_PREFIX) && resolve(m.slice(TICKET_PREFIX.length));
    held.messages.forEach(look);
    ws.onmessage = (e) => look(e.data);
  });
  return { ws, ticket };
}

/** Cuts the WebSocket as a broken link does (no close frame), and waits until the connector keeps the origin. */
async function cut(ws: WebSocket) {
  ws.terminate();
  await connector.proc.waitForLine(/lost its path/, { stream: "stderr" });
}

type Outcome = { resumed: true; ws: WebSocket } | { resumed: false; code: number; reason: string };

/** Dials with a ticket: resumed once the connector's first record arrives, else how it was refused. */
async function tryResume(o: DialOptions): Promise<Outcome> {
  let ws: WebSocket;
  try {
    ws = await dialApp(o);
  } catch (e) {
    if (e instanceof ClosedError) return { resumed: false, code: e.code, reason: e.message };
    throw e;
  }
  const held = takeHeld(ws)!;
  return new Promise<Outcome>((resolve) => {
    const look = (m: unknown) => typeof m !== "string" && resolve({ resumed: true, ws });
    held.messages.forEach(look);
    if (held.close) resolve({ resumed: false, code: held.close.code, reason: held.close.reason });
    ws.onmessage = (e) => look(e.data);
    ws.onclose = (e) => resolve({ resumed: false, code: e.code, reason: e.reason });
  });
}

describe("a resume is decided again", () => {
  test("a ticket resumes its cut once: presented again, it is refused", async () => {
    const first = await resumable(opts(HOST, tokens.ssh));
    await cut(first.ws);
    const again = await tryResume(opts(HOST, tokens.ssh, first.ticket));
    expect(again.resumed).toBe(true);
    if (!again.resumed) return;
    await cut(again.ws);
    const replay = await tryResume(opts(HOST, tokens.ssh, first.ticket));
    expect(replay).toMatchObject({ resumed: false, code: Close.notResumable });
    if (!replay.resumed) expect(replay.reason).toContain("used already");
  });

  test("a ticket presented for another application is refused, with that application's own valid token", async () => {
    const first = await resumable(opts(HOST, tokens.ssh));
    await cut(first.ws);
    const other = await tryResume(opts(OTHER, tokens.other, first.ticket));
    expect(other).toMatchObject({ resumed: false, code: Close.notResumable });
    if (!other.resumed) expect(other.reason).toContain("another application");
    // nor by another identity at the same application: the other token is not allowed here at all,
    // so it is the decision that refuses it
    const someoneElse = await tryResume(opts(HOST, tokens.other, first.ticket));
    expect(someoneElse).toMatchObject({ resumed: false, code: Close.denied });
  });

  test("an identity revoked during the gap does not resume", async () => {
    const t = await edge.app("revoked.site.test");
    const c = await startConnector(edge, ["--hostname", "revoked.site.test", "--url", `ssh://127.0.0.1:${sshd.port}`], { wait: 1 });
    try {
      const first = await resumable(opts("revoked.site.test", t));
      first.ws.terminate();
      await c.proc.waitForLine(/lost its path/, { stream: "stderr" });
      await edge.admin(["token", "revoke", t.name]);
      const after = await tryResume(opts("revoked.site.test", t, first.ticket));
      expect(after).toMatchObject({ resumed: false, code: Close.unauthenticated });
    } finally {
      await c[Symbol.asyncDispose]();
    }
  });

  test("the edge counts resumes and refusals by reason", async () => {
    const m = await scrape(await metricsUrl(edge.proc));
    const n = (labels: Record<string, string>) => m.get("wicket_edge_resumes_total", labels);
    expect(n({ result: "resumed" })).toBeGreaterThanOrEqual(1);
    expect(n({ result: "refused", reason: "not_resumable" })).toBeGreaterThanOrEqual(1);
    expect(n({ result: "refused", reason: "ticket" })).toBeGreaterThanOrEqual(1);
    expect(n({ result: "refused", reason: "decision" })).toBeGreaterThanOrEqual(2);
  });
});
