// SSH in the browser: the edge is the SSH client. A terminal's WebSocket, let in by the same
// decision, audit and live-session entry as a CLI client (lib/edge/decisions/authorize.ts), gets a
// stream to the application's connector (this node's, or a peer's in a cluster), a fresh
// Ed25519 key with a minutes-long certificate from the application's CA for the person's
// principal, and an ssh2 client over that stream. The server's host key is pinned per
// application on first use; a different one ends the session until an admin accepts it.
import type { ServerWebSocket } from "bun";
import { Duplex } from "node:stream";
import type { Client, ClientChannel } from "ssh2";
import { formatDuration } from "../../cli/values.ts";
import { log } from "../../cli/log.ts";
import { fingerprint, generateEd25519, lineFingerprint, opensshPrivateKey, reader } from "../../ssh/format.ts";
import { checkHostKey, type Store } from "../../store/index.ts";
import { CLIENT_HIGH_WATER } from "../../wire/client.ts";
import { Close, closeReason } from "../../wire/close.ts";
import { ResetCode } from "../../wire/frame.ts";
import type { Mux, Stream } from "../../wire/mux.ts";
import type { ClientAuth } from "../decisions/authorize.ts";
import type { ClientRoom } from "../streams/client-stream.ts";
import type { Watched } from "../streams/keepalive.ts";
import { DEFAULT_RECORDING_LIMIT, RecordingRefused, startRecorder, type Recorder } from "./recorder.ts";
import { issueUserCert } from "../decisions/ssh-cert.ts";
import { parseUp, TERMINAL_MESSAGE_MAX, type TerminalDown } from "./protocol.ts";

/** What the upgrade decided, and the session's moving parts once it runs. */
export type TerminalData = ClientAuth & {
  kind: "terminal";
  principal: string;
  cols: number;
  rows: number;
  record: boolean;
  recordInput: boolean;
  /** The application's limit on a recording (bytes); unset: the edge's default. */
  recordingLimit?: number;
  /** The application's zone, whose recordings share the zone limit. */
  zone: string;
  s: { ssh?: Client; channel?: ClientChannel; stream?: Stream; recorder?: Recorder; watch?: Watched; idle?: Idle; ended?: boolean; why?: string; exit?: string; held?: boolean };
};
export type TerminalSocket = ServerWebSocket<TerminalData>;

/** The client room, read when a terminal opens (a cluster's peers are set after start), the store,
 * how long a terminal may go without input before it is closed (ms; 0: never), and the bytes
 * the recordings of one zone may take together. */
export type TerminalRoom = { clients: ClientRoom; store: Store; open: number; idleMs: number; zoneRecordingLimit: number };

export const DEFAULT_TERMINAL_IDLE_MS = 30 * 60_000;

/** The last input, and the one timer that checks it (not one per keystroke). */
type Idle = { last: number; timer?: ReturnType<typeof setTimeout> };

const send = (ws: TerminalSocket, m: TerminalDown) => ws.send(JSON.stringify(m));

/** Ends the terminal once: the browser hears why, the SSH connection and the stream go, the live
 * session and the recording end; the audit records `audited`, the browser's sentence unless given. */
function finish(ws: TerminalSocket, room: TerminalRoom, code: number, reason: string, audited = reason) {
  const d = ws.data;
  if (d.s.ended) return;
  d.s.ended = true;
  clearTimeout(d.s.idle?.timer);
  try {
    send(ws, { type: "closed", reason });
    if (d.s.held) ws.resume(); // a paused socket would not read the browser's answer to the close
    ws.close(code, closeReason(reason));
  } catch {} // the browser went first
  const r = room.clients;
  if (d.s.watch) r.keepalive.remove(d.s.watch);
  d.s.ssh?.end();
  d.s.stream?.reset(ResetCode.canceled, reason);
  r.metrics.terminalsOpen.set(--room.open);
  // the recording is finished before the session's end names it in the audit
  void (d.s.recorder?.close() ?? Promise.resolve()).then(() => r.liveSessions.end(d.sessionId, audited));
}

const plural = (n: number, unit: string) => `${n} ${unit}${n === 1 ? "" : "s"}`;

/** The idle clock, from the shell's start: only the person's input winds it back. Output does
 * not: a `top` left running in an unattended tab is exactly what an idle timeout is for. */
function watchIdle(ws: TerminalSocket, room: TerminalRoom) {
  const ms = room.idleMs;
  if (ms <= 0) return;
  const idle: Idle = { last: Date.now() };
  ws.data.s.idle = idle;
  // a timer waits at most 2^31-1 ms (about 24 days): a longer timeout takes several
  const wait = (left: number) => (idle.timer = setTimeout(check, Math.min(left, 2 ** 31 - 1)));
  const check = () => {
    const left = idle.last + ms - Date.now();
    if (left > 0) return void wait(left);
    const span = ms % 60_000 === 0 ? plural(ms / 60_000, "minute") : plural(Math.round(ms / 1000), "second");
    finish(ws, room, Close.normal, `The terminal was closed after ${span} without input.`, `idle for ${formatDuration(ms)}`);
  };
  wait(ms);
}

export function openTerminal(ws: TerminalSocket, room: TerminalRoom) {
  const d = ws.data;
  const r = room.clients;
  r.metrics.decisions.inc({ decision: d.reject ? "deny" : "allow" });
  if (d.reject) {
    r.metrics.terminals.inc({ result: "refused" });
    d.s.ended = true;
    send(ws, { type: "closed", reason: d.reject.reason });
    return ws.close(d.reject.code, closeReason(d.reject.reason));
  }
  r.metrics.terminalsOpen.set(++room.open);
  // re-checked as the application's settings change too: browser SSH turned off, or recording on, cuts it
  r.liveSessions.start({ ...d, terminal: { record: d.record, recordInput: d.recordInput } }, {
    counters: () => ({ toOrigin: d.s.stream?.bytesOut ?? 0, toClient: d.s.stream?.bytesIn ?? 0 }),
    close: (code, reason) => finish(ws, room, code, reason),
    recording: () => d.s.recorder?.id,
  });
  d.s.watch = {
    ping: () => ws.ping(),
    // while input is held the browser's socket is not read, its pongs neither: the server is what went quiet
    dead: (ms) =>
      finish(ws, room, Close.keepaliveTimeout, d.s.held ? `the server read none of the terminal's input for ${Math.round(ms / 1000)} s, and the browser had more to send` : `the browser sent nothing for ${Math.round(ms / 1000)} s`),
  };
  r.keepalive.add(d.s.watch);
  void start(ws, room).catch((e: Error) => {
    log.error(`terminal ${d.sessionId} for ${d.identity} on ${d.host}: ${e.message}`);
    finish(ws, room, Close.internal, `the edge could not start the session: ${e.message}`);
  });
}

async function start(ws: TerminalSocket, room: TerminalRoom) {
  const d = ws.data;
  const r = room.clients;
  if (d.record) {
    try {
      d.s.recorder = await startRecorder(
        room.store,
        { sessionId: d.sessionId!, app: d.app!, host: d.host, identity: d.identity, email: d.subject?.email?.toLowerCase(), principal: d.principal, input: d.recordInput, cols: d.cols, rows: d.rows, zone: d.zone },
        { recording: d.recordingLimit ?? DEFAULT_RECORDING_LIMIT, zone: room.zoneRecordingLimit },
        r.metrics,
        (why) => finish(ws, room, Close.unavailable, why),
      );
    } catch (e) {
      r.metrics.terminals.inc({ result: "failed" });
      log.error(`recording for ${d.sessionId}: ${(e as Error).message}`);
      if (e instanceof RecordingRefused) return finish(ws, room, Close.unavailable, e.message);
      return finish(ws, room, Close.unavailable, "this application records its sessions, and the edge cannot write the recording now, so the session does not start; try again later");
    }
  }
  if (d.s.ended) return;
  const conn = r.connectors.pick(d.host);
  const mux = conn?.mux ?? (await r.peers?.pick(d.host).then((to) => to?.mux).catch((e: Error) => void log.warn(`cannot reach the cluster's peers for ${d.host}: ${e.message}`)));
  if (d.s.ended) return;
  if (!mux) {
    r.metrics.noConnector.inc();
    r.metrics.terminals.inc({ result: "failed" });
    return finish(ws, room, Close.noConnector, `No connector is online for ${d.host}: the server is not connected to the edge (start \`wicket tunnel --hostname ${d.host}\` on it).`);
  }
  await connectSsh(ws, room, mux);
}

function hostKeyLine(blob: Buffer): string {
  const type = Buffer.from(reader(blob).string()).toString("latin1");
  return `${type} ${blob.toString("base64")}`;
}

async function connectSsh(ws: TerminalSocket, room: TerminalRoom, mux: Mux) {
  const d = ws.data;
  const r = room.clients;
  const key = generateEd25519();
  // sshd logs the key id on login: who, which session, and that it was a browser
  const issued = await issueUserCert(room.store, d.host, { publicKey: key.raw, keyId: `${d.identity} ${d.sessionId} browser`, principal: d.principal });
  if (!issued) return finish(ws, room, Close.denied, `${d.host} is no longer an application of this edge`);
  const stream = mux.open({ host: d.host, client: d.ip, identity: d.identity, session: d.sessionId });
  d.s.stream = stream;
  r.metrics.streams.inc();
  // ssh2 loads with the first terminal: an edge that serves none never loads it
  const [{ Client }, { useCertificate }] = await Promise.all([import("ssh2"), import("../../ssh/ssh2-cert.ts")]);
  const ssh = new Client();
  d.s.ssh = ssh;
  ssh.on("ready", () => {
    ssh.shell({ term: "xterm-256color", cols: d.cols, rows: d.rows }, (err, ch) => {
      if (err) return finish(ws, room, Close.originUnreachable, `the server refused a terminal: ${err.message}`);
      if (d.s.ended) return ch.close();
      d.s.channel = ch;
      r.metrics.terminals.inc({ result: "connected" });
      log.info(`terminal ${d.sessionId}: ${d.identity} is ${d.principal} on ${d.host}${d.s.recorder ? ` (recording ${d.s.recorder.id})` : ""}`);
      send(ws, { type: "status", state: "connected" });
      watchIdle(ws, room);
      const out = (b: Buffer) => {
        d.s.recorder?.output(b);
        if (d.s.ended) return; // the recording ended the session: what it did not record is not shown
        ws.send(b);
        if (ws.getBufferedAmount() > CLIENT_HIGH_WATER) ch.pause();
      };
      ch.on("data", out);
      ch.stderr.on("data", out);
      ch.on("exit", (code: number | null, signal?: string) => (d.s.exit = signal ? `the shell was ended by signal ${signal}` : `the shell exited with status ${code ?? "unknown"}`));
      ch.on("close", () => finish(ws, room, Close.normal, d.s.exit ? `${d.s.exit[0]!.toUpperCase()}${d.s.exit.slice(1)}.` : "The SSH session ended."));
    });
  });
  ssh.on("error", (e: Error & { level?: string }) => {
    const why =
      d.s.why ??
      (e.level === "client-authentication"
        ? `The server at ${d.host} refused the certificate for "${d.principal}": it must trust this application's CA (TrustedUserCAKeys, see \`wicket edge ssh-ca ${d.host}\`) and have a user ${d.principal}.`
        : `The SSH connection to ${d.host} failed: ${e.message}`);
    finish(ws, room, Close.originUnreachable, why);
  });
  ssh.on("close", () => finish(ws, room, Close.normal, d.s.why ?? d.s.exit ?? "The SSH connection closed."));
  ssh.connect({
    sock: streamSocket(stream),
    username: d.principal,
    privateKey: opensshPrivateKey(key.privateKey, "wicket-browser"),
    readyTimeout: 20_000,
    keepaliveInterval: 15_000,
    hostVerifier: (blob: Buffer, verify: (ok: boolean) => void) => {
      let line: string;
      try {
        line = hostKeyLine(blob);
      } catch {
        d.s.why = `${d.host} sent a malformed host key`;
        return verify(false);
      }
      checkHostKey(room.store, d.app!, line).then(
        (c) => {
          if (!c.ok) {
            d.s.why = `The host key of ${d.host} has changed: the server offered ${fingerprint(blob)}, but ${lineFingerprint(c.pinned)} is pinned for it. The server may have been reinstalled, or someone may be intercepting the connection. An admin who has checked the new key accepts it with \`wicket edge app edit ${d.app} --accept-host-key\`.`;
            log.warn(`terminal ${d.sessionId}: host key of ${d.host} changed (offered ${fingerprint(blob)}); refused`);
          }
          verify(c.ok);
        },
        (e: Error) => {
          d.s.why = `the edge cannot check the server's host key now: ${e.message}`;
          verify(false);
        },
      );
    },
  } as Parameters<Client["connect"]>[0]);
  useCertificate(ssh, key.privateKey, issued.certificate);
}

/** A mux stream as the socket ssh2 reads and writes: writes wait for the stream's credit, reads return it at once (ssh2 keeps its own window). */
function streamSocket(stream: Stream): Duplex {
  let waiting: (() => void) | undefined;
  const sock = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      if (stream.write(new Uint8Array(chunk))) done();
      else waiting = done;
    },
    final(done) {
      stream.end();
      done();
    },
  });
  stream.onData = (b) => {
    sock.push(Buffer.from(b));
    stream.ack(b.byteLength);
  };
  stream.onDrain = () => {
    const w = waiting;
    waiting = undefined;
    w?.();
  };
  stream.onEnd = () => sock.push(null);
  stream.onClose = (code, reason) => {
    if (code !== ResetCode.normal) sock.destroy(new Error(`the connector reset the stream: ${reason || `code ${code}`}`));
    else sock.destroy();
  };
  return sock;
}

/** The SSH channel holds as much input as the server has not read yet as it will (its window and
 * ssh2's buffer, a few MiB): the browser's socket is read no further until the channel drains,
 * so input at a program that reads none of it waits in the browser, not in the edge. */
function holdInput(ws: TerminalSocket, ch: ClientChannel) {
  const d = ws.data;
  if (d.s.held) return;
  // once a session: a slow reader is held and let go many times
  if (d.s.held === undefined) log.debug(`terminal ${d.sessionId}: the server takes no more input for now; the browser's socket waits until it does`);
  d.s.held = true;
  ws.pause();
  ch.once("drain", () => {
    d.s.held = false;
    if (!d.s.ended) ws.resume();
  });
}

export function terminalMessage(ws: TerminalSocket, msg: string | Buffer, room: TerminalRoom) {
  const d = ws.data;
  if (d.s.ended) return;
  if (d.s.watch) room.clients.keepalive.heard(d.s.watch);
  const size = typeof msg === "string" ? msg.length : msg.byteLength;
  if (size > TERMINAL_MESSAGE_MAX) {
    return finish(ws, room, Close.tooBig, `A terminal message may be at most ${TERMINAL_MESSAGE_MAX / 1024} KiB (this one was ${Math.ceil(size / 1024)} KiB); the page sends a paste in pieces that size.`);
  }
  const ch = d.s.channel;
  if (!ch) return;
  if (typeof msg === "string") {
    const m = parseUp(msg);
    if (!m) return;
    ch.setWindow(m.rows, m.cols, 0, 0);
    d.s.recorder?.resize(m.cols, m.rows);
    return;
  }
  if (d.s.idle) d.s.idle.last = Date.now();
  if (d.recordInput) d.s.recorder?.input(msg);
  if (d.s.ended) return; // the recording ended the session: what it did not record does not reach the server
  if (!ch.write(msg)) holdInput(ws, ch);
}

export function terminalDrained(ws: TerminalSocket) {
  if (ws.getBufferedAmount() < CLIENT_HIGH_WATER) ws.data.s.channel?.resume();
}

export function terminalPong(ws: TerminalSocket, room: TerminalRoom) {
  if (ws.data.s.watch) room.clients.keepalive.heard(ws.data.s.watch);
}

export function terminalClosed(ws: TerminalSocket, code: number, room: TerminalRoom) {
  finish(ws, room, code, code === Close.normal || code === Close.goingAway || code === Close.noStatus ? "the browser closed the terminal" : `the browser went away (${code})`);
}
