// OpenSSH's binary encodings (RFC 4251 §5) and the key and certificate formats built on
// them: an Ed25519 public key line, the unencrypted openssh-key-v1 private key file, and
// user certificates (PROTOCOL.certkeys). Held against ssh-keygen and sshd in the tests.
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, type KeyObject } from "node:crypto";

export const ED25519 = "ssh-ed25519";
export const ED25519_CERT = "ssh-ed25519-cert-v01@openssh.com";

const enc = new TextEncoder();

/** Concatenates SSH wire fields. */
export function pack(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.byteLength;
  }
  return out;
}
export const u32 = (n: number) => {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n);
  return b;
};
export const u64 = (n: bigint) => {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, n);
  return b;
};
export const str = (s: string | Uint8Array) => {
  const b = typeof s === "string" ? enc.encode(s) : s;
  return pack(u32(b.byteLength), b);
};

/** Reads SSH wire fields in order; throws on anything short or malformed. */
export function reader(buf: Uint8Array) {
  let o = 0;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    string(): Uint8Array {
      if (o + 4 > buf.byteLength) throw new Error("truncated");
      const n = view.getUint32(o);
      if (o + 4 + n > buf.byteLength) throw new Error("truncated");
      const s = buf.subarray(o + 4, o + 4 + n);
      o += 4 + n;
      return s;
    },
    u32(): number {
      if (o + 4 > buf.byteLength) throw new Error("truncated");
      return view.getUint32((o += 4) - 4);
    },
    u64(): bigint {
      if (o + 8 > buf.byteLength) throw new Error("truncated");
      return view.getBigUint64((o += 8) - 8);
    },
    done: () => o === buf.byteLength,
  };
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
const b64url = (b: string) => new Uint8Array(Buffer.from(b, "base64url"));

/** The 32-byte public key of an Ed25519 KeyObject. */
export function rawPublic(key: KeyObject): Uint8Array {
  return b64url(createPublicKey(key).export({ format: "jwk" }).x!);
}

export const publicBlob = (raw: Uint8Array) => pack(str(ED25519), str(raw));
/** A key's fingerprint as ssh-keygen -l prints it: `SHA256:` and the unpadded base64 of its blob's SHA-256. */
export const fingerprint = (blob: Uint8Array) => `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
/** The fingerprint of a one-line public key (`ssh-ed25519 AAAA…`). */
export const lineFingerprint = (line: string) => fingerprint(Buffer.from(line.trim().split(/\s+/)[1] ?? "", "base64"));
export const publicLine = (raw: Uint8Array, comment = "") => `${ED25519} ${b64(publicBlob(raw))}${comment ? ` ${comment}` : ""}`;

/** Parses an `ssh-ed25519 AAAA… [comment]` line; undefined if it is not a valid Ed25519 key. */
export function parseEd25519PublicLine(line: string): Uint8Array | undefined {
  const [type, data] = line.trim().split(/\s+/);
  if (type !== ED25519 || !data || !/^[A-Za-z0-9+/]+=*$/.test(data)) return undefined;
  try {
    const r = reader(new Uint8Array(Buffer.from(data, "base64")));
    if (new TextDecoder().decode(r.string()) !== ED25519) return undefined;
    const key = r.string();
    if (key.byteLength !== 32 || !r.done()) return undefined;
    createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: Buffer.from(key).toString("base64url") }, format: "jwk" }); // a point on the curve
    return key.slice();
  } catch {
    return undefined;
  }
}

export function generateEd25519(): { privateKey: KeyObject; raw: Uint8Array } {
  const { privateKey } = generateKeyPairSync("ed25519");
  return { privateKey, raw: rawPublic(privateKey) };
}

export const privateFromPkcs8 = (pem: string) => createPrivateKey(pem);

/** The unencrypted `-----BEGIN OPENSSH PRIVATE KEY-----` file that ssh reads. */
export function opensshPrivateKey(privateKey: KeyObject, comment: string): string {
  const jwk = privateKey.export({ format: "jwk" });
  const seed = b64url(jwk.d!);
  const pub = b64url(jwk.x!);
  const check = crypto.getRandomValues(new Uint8Array(4));
  let priv = pack(check, check, str(ED25519), str(pub), str(pack(seed, pub)), str(comment));
  const pad = (8 - (priv.byteLength % 8)) % 8;
  priv = pack(priv, Uint8Array.from({ length: pad }, (_, i) => i + 1));
  const body = pack(enc.encode("openssh-key-v1\0"), str("none"), str("none"), str(""), u32(1), str(publicBlob(pub)), str(priv));
  const lines = b64(body).match(/.{1,70}/g)!.join("\n");
  return `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines}\n-----END OPENSSH PRIVATE KEY-----\n`;
}

export interface UserCertRequest {
  ca: KeyObject;
  /** The user's Ed25519 public key (32 bytes). */
  publicKey: Uint8Array;
  keyId: string;
  principals: string[];
  validAfter: Date;
  validBefore: Date;
  serial?: bigint;
  /** What the application permits beyond a terminal and port forwarding. */
  extras?: readonly CertExtra[];
}

// What a certificate permits: a terminal and port forwarding, as Cloudflare Access's do.
// Agent forwarding, X11 and ~/.ssh/rc, which an ordinary `ssh-keygen -s` certificate also
// permits, are left out unless the application allows them: each hands the server more of
// the client than a login needs.
const CERT_EXTENSIONS = ["permit-port-forwarding", "permit-pty"] as const;

/** The extensions an application may add, by the names `--ssh-extensions` takes. */
export const CERT_EXTRAS = { agent: "permit-agent-forwarding", x11: "permit-X11-forwarding", "user-rc": "permit-user-rc" } as const;
export type CertExtra = keyof typeof CERT_EXTRAS;
export const isCertExtra = (name: string): name is CertExtra => Object.hasOwn(CERT_EXTRAS, name);

// The last line of defence under lib/ssh/principal.ts: principals are read as lists split at
// commas (`ssh-keygen -n`, sshd's `principals=`), so no principal with a comma, a blank or a
// control character is ever signed.
const SIGNABLE_PRINCIPAL = /^[^\s,\x00-\x1f\x7f]{1,256}$/;

/** The defaults and the extras, once each, in lexical (byte) order as PROTOCOL.certkeys asks. */
const extensionNames = (extras: readonly CertExtra[]) => [...new Set([...CERT_EXTENSIONS, ...extras.map((e) => CERT_EXTRAS[e])])].sort();

/** A user certificate signed by the CA, as the one-line `…-cert.pub` file. */
export function signUserCert(req: UserCertRequest): string {
  const bad = req.principals.find((p) => !SIGNABLE_PRINCIPAL.test(p));
  if (bad !== undefined || !req.principals.length) throw new Error(`refusing to sign a certificate for the principal ${JSON.stringify(bad ?? "")}`);
  const seconds = (d: Date) => BigInt(Math.floor(d.getTime() / 1000));
  const body = pack(
    str(ED25519_CERT),
    str(crypto.getRandomValues(new Uint8Array(32))), // nonce
    str(req.publicKey),
    u64(req.serial ?? BigInt(Date.now())),
    u32(1), // SSH_CERT_TYPE_USER
    str(req.keyId),
    str(pack(...req.principals.map(str))),
    u64(seconds(req.validAfter)),
    u64(seconds(req.validBefore)),
    str(""), // critical options: none
    str(pack(...extensionNames(req.extras ?? []).flatMap((e) => [str(e), str("")]))),
    str(""), // reserved
    str(publicBlob(rawPublic(req.ca))),
  );
  const signature = pack(str(ED25519), str(new Uint8Array(sign(null, body, req.ca))));
  return `${ED25519_CERT} ${b64(pack(body, str(signature)))} ${req.keyId}`;
}

/** The validity end of a `…-cert.pub` line we wrote, or undefined if it cannot be read. */
export function certValidBefore(line: string): Date | undefined {
  const [type, data] = line.trim().split(/\s+/);
  if (type !== ED25519_CERT || !data) return undefined;
  try {
    const r = reader(new Uint8Array(Buffer.from(data, "base64")));
    r.string(); // type
    r.string(); // nonce
    r.string(); // key
    r.u64(); // serial
    r.u32(); // type
    r.string(); // key id
    r.string(); // principals
    r.u64(); // valid after
    return new Date(Number(r.u64()) * 1000);
  } catch {
    return undefined;
  }
}
