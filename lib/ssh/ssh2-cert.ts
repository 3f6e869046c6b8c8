// OpenSSH user certificates for the ssh2 client. ssh2 (1.x) signs in with plain keys only, and
// writes the key's algorithm into the signature too, where a certificate's signature must
// name the plain algorithm (PROTOCOL.certkeys): sshd refuses `ssh-ed25519-cert-v01@…` there.
// So for one client this replaces its protocol's publickey request with the RFC 4252 one,
// signed with the certificate's key; everything else (key exchange, ciphers, channels) is
// ssh2's.
import { sign, type KeyObject } from "node:crypto";
import type { Client } from "ssh2";
import { sendPacket } from "ssh2/lib/protocol/utils.js";
import { ED25519, ED25519_CERT, pack, str } from "./format.ts";

const USERAUTH_REQUEST = 50;

type Writer = { alloc(n: number): Buffer; allocStart: number; finalize(p: Buffer): Buffer };
type Proto = { _kex: { sessionID: Buffer }; _packetRW: { write: Writer }; _authsQueue: string[]; authPK: (...a: unknown[]) => void };

/** `line`: the `ssh-ed25519-cert-v01@openssh.com AAAA…` certificate of `key`. Call right after `client.connect()`. */
export function useCertificate(client: Client, key: KeyObject, line: string) {
  const [type, b64] = line.trim().split(/\s+/);
  if (type !== ED25519_CERT || !b64) throw new Error("not an ssh-ed25519 certificate");
  const blob = new Uint8Array(Buffer.from(b64, "base64"));
  // internals: ssh2 has no API for certificate auth; its Protocol object signs the userauth request
  const proto = (client as unknown as { _protocol: Proto })._protocol;
  proto.authPK = function (username: unknown) {
    const head = pack(Uint8Array.of(USERAUTH_REQUEST), str(String(username)), str("ssh-connection"), str("publickey"), Uint8Array.of(1), str(ED25519_CERT), str(blob));
    const signature = new Uint8Array(sign(null, pack(str(this._kex.sessionID), head), key));
    const payload = pack(head, str(pack(str(ED25519), str(signature))));
    const w = this._packetRW.write;
    const packet = w.alloc(payload.byteLength);
    packet.set(payload, w.allocStart);
    this._authsQueue.push("publickey");
    sendPacket(this, w.finalize(packet));
  };
}
