// `access ssh-gen`: an ephemeral key and a short-lived certificate for it, signed by the
// edge for the caller's identity, in ~/.wicket/<hostname>-key and <hostname>-key-cert.pub.
import { mkdir, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { deniedError, configError, usageError, temporaryError } from "../cli/exit.ts";
import { withLock } from "../cli/lock.ts";
import { safeName, wicketHome } from "../paths.ts";
import { certValidBefore, generateEd25519, opensshPrivateKey, publicLine } from "../ssh/format.ts";
import { SSH_CERT_PATH } from "../wire/http.ts";
import { appHeaders, appOrigin, appTls, dialError, type DialOptions } from "./dial.ts";

/** A certificate with less left than this is replaced rather than reused. */
const MIN_REMAINING_MS = 60_000;

export function certPaths(hostname: string) {
  const key = join(wicketHome(), `${safeName(hostname)}-key`);
  return { key, cert: `${key}-cert.pub` };
}

async function validUntil(certPath: string): Promise<Date | undefined> {
  const line = await readFile(certPath, "utf8").catch(() => undefined);
  return line ? certValidBefore(line) : undefined;
}

async function writePrivate(path: string, text: string) {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, path);
}

const STATUS_ERRORS: Record<number, (m: string) => Error> = { 400: usageError, 401: deniedError, 403: deniedError, 404: configError };

export async function sshGen(opts: DialOptions): Promise<{ key: string; cert: string; validBefore: Date; reused: boolean }> {
  const paths = certPaths(opts.hostname);
  await mkdir(wicketHome(), { recursive: true, mode: 0o700 });
  return withLock(`${paths.key}.lock`, async () => {
    const current = await validUntil(paths.cert);
    if (current && current.getTime() - Date.now() > MIN_REMAINING_MS) return { ...paths, validBefore: current, reused: true };

    const { privateKey, raw } = generateEd25519();
    let res: Response;
    try {
      res = await fetch(`${appOrigin(opts)}${SSH_CERT_PATH}`, {
        method: "POST",
        headers: { ...appHeaders(opts), "content-type": "application/json" },
        body: JSON.stringify({ public_key: publicLine(raw) }),
        tls: appTls(opts),
      } as RequestInit);
    } catch (err) {
      throw dialError((err as Error).message, opts);
    }
    const body = (await res.json().catch(() => ({}))) as { certificate?: string; error?: string };
    if (!res.ok || !body.certificate) {
      const make = STATUS_ERRORS[res.status] ?? temporaryError;
      throw make(body.error ?? `the edge refused to sign a certificate for ${opts.hostname} (HTTP ${res.status})`);
    }
    // The key first: a certificate never sits beside a key it does not belong to for long,
    // and both are written whole (rename) under the lock.
    await writePrivate(paths.key, opensshPrivateKey(privateKey, `wicket ${opts.hostname}`));
    await writePrivate(paths.cert, body.certificate + "\n");
    return { ...paths, validBefore: certValidBefore(body.certificate)!, reused: false };
  });
}
