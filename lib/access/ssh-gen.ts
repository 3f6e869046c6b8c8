// `access ssh-gen`: an ephemeral key and a short-lived certificate for it, signed by the
// edge for the caller's identity, in ~/.wicket/<hostname>-key and <hostname>-key-cert.pub.
import { readFile } from "node:fs/promises";
import { EXIT, temporaryError, type ExitCode } from "../cli/exit.ts";
import { httpClient, isRefusal, refusalError, type Refusal } from "../cli/http.ts";
import { withLock } from "../cli/lock.ts";
import { privateDir, sshKeyPaths, wicketHome, writePrivate } from "../paths.ts";
import { certValidBefore, generateEd25519, opensshPrivateKey, publicLine } from "../ssh/format.ts";
import { SSH_CERT_PATH } from "../wire/http.ts";
import { appHeaders, appOrigin, appTls, dialError, type DialOptions } from "./dial.ts";

/** A certificate with less left than this is replaced rather than reused. */
const MIN_REMAINING_MS = 60_000;

async function validUntil(certPath: string): Promise<Date | undefined> {
  const line = await readFile(certPath, "utf8").catch(() => undefined);
  return line ? certValidBefore(line) : undefined;
}

const STATUS_EXITS: Record<number, ExitCode> = { 400: EXIT.usage, 401: EXIT.denied, 403: EXIT.denied, 404: EXIT.config };
const refused = (hostname: string): Refusal => ({
  sentence: (said, status) => said ?? `the edge refused to sign a certificate for ${hostname} (HTTP ${status})`,
  // 404: no such application at this edge, a configuration matter; anything else may pass with time.
  exit: (status) => STATUS_EXITS[status] ?? EXIT.temporary,
});

/** `signIn` gives the app token of a signed-in person; asked only when a new certificate is needed. */
export async function sshGen(opts: DialOptions, signIn?: () => Promise<string>): Promise<{ key: string; cert: string; validBefore: Date; reused: boolean }> {
  const paths = sshKeyPaths(opts.hostname);
  privateDir(wicketHome());
  return withLock(`${paths.key}.lock`, async () => {
    const current = await validUntil(paths.cert);
    if (current && current.getTime() - Date.now() > MIN_REMAINING_MS) return { ...paths, validBefore: current, reused: true };

    if (!opts.serviceToken && signIn) opts = { ...opts, appToken: await signIn() };
    const { privateKey, raw } = generateEd25519();
    let body: { certificate?: string } | undefined;
    try {
      body = await httpClient(appTls(opts))(`${appOrigin(opts)}${SSH_CERT_PATH}`, { method: "POST", headers: appHeaders(opts), body: { public_key: publicLine(raw) }, responseType: "json" });
    } catch (e) {
      // No answer at all reads as a WebSocket that could not connect.
      throw isRefusal(e) ? refusalError(e, refused(opts.hostname)) : dialError(e, opts);
    }
    if (typeof body?.certificate !== "string") throw temporaryError(`the edge refused to sign a certificate for ${opts.hostname} (HTTP 200)`);
    // The key first: a certificate never sits beside a key it does not belong to for long,
    // and both are written whole (rename) under the lock.
    writePrivate(paths.key, opensshPrivateKey(privateKey, `wicket ${opts.hostname}`));
    writePrivate(paths.cert, body.certificate + "\n");
    return { ...paths, validBefore: certValidBefore(body.certificate)!, reused: false };
  });
}
