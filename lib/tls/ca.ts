// `--tls self-signed`: a private CA kept in the data directory that issues certificates for the
// edge's own host and for every zone, so clients verify application hostnames with --ca-file.
import type { X509Certificate } from "@peculiar/x509";
import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { isIP } from "node:net";
import { CA_FILE, CA_KEY_FILE, writePrivate } from "../paths.ts";

/** @peculiar/x509, loaded on first use and after the reflect-metadata polyfill it needs: as
 * static imports, a lazily loaded command could evaluate them in the wrong order. */
let x509Module: Promise<typeof import("@peculiar/x509")> | undefined;
const loadX509 = () => (x509Module ??= import("reflect-metadata").then(() => import("@peculiar/x509")));

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY = 86_400_000;

export interface CA {
  certPem: string;
  cert: X509Certificate;
  key: CryptoKey;
}

export interface IssuedCert {
  cert: string;
  key: string;
}

const serial = () => Buffer.from(crypto.getRandomValues(new Uint8Array(16))).toString("hex").replace(/^[89a-f]/, "1");

async function exportKey(key: CryptoKey): Promise<string> {
  const x509 = await loadX509();
  return x509.PemConverter.encode(await crypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

async function importKey(pem: string): Promise<CryptoKey> {
  const x509 = await loadX509();
  return crypto.subtle.importKey("pkcs8", x509.PemConverter.decodeFirst(pem), ALG, true, ["sign"]);
}

/** Loads the CA from `<dataDir>/ca.pem` and `ca-key.pem`, creating both on first use. */
export async function loadOrCreateCA(dataDir: string): Promise<CA> {
  const x509 = await loadX509();
  const certPath = join(dataDir, CA_FILE);
  const keyPath = join(dataDir, CA_KEY_FILE);
  try {
    const [certPem, keyPem] = await Promise.all([readFile(certPath, "utf8"), readFile(keyPath, "utf8")]);
    return { certPem, cert: new x509.X509Certificate(certPem), key: await importKey(keyPem) };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  const { certPem, cert, key } = await newCA();
  writePrivate(keyPath, await exportKey(key));
  await writeFile(certPath, certPem + "\n", { mode: 0o644 });
  return { certPem, cert, key };
}

/** A new CA, kept nowhere: the caller stores it, or uses it for a stand-in certificate. */
export async function newCA(): Promise<CA> {
  const x509 = await loadX509();
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: `CN=wicket edge CA ${new Date().toISOString().slice(0, 10)}`,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 3650 * DAY),
    keys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certPem: cert.toString("pem"), cert, key: keys.privateKey };
}

/** A server certificate for DNS names and IP addresses, signed by the CA, valid for a year. */
export async function issueCert(ca: CA, names: string[]): Promise<IssuedCert> {
  const x509 = await loadX509();
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: `CN=${names.find((n) => !isIP(n)) ?? names[0]}`,
    issuer: ca.cert.subject,
    notBefore: new Date(Date.now() - DAY),
    notAfter: new Date(Date.now() + 365 * DAY),
    signingKey: ca.key,
    publicKey: keys.publicKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((n) => (isIP(n) ? { type: "ip", value: n } : { type: "dns", value: n }))),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert),
    ],
  });
  return { cert: cert.toString("pem") + "\n" + ca.certPem, key: await exportKey(keys.privateKey) };
}
