// A CI job (or any workload) gets in on its platform's ID token, never through a browser:
// inside GitHub Actions (`permissions: id-token: write`) the runner's token endpoint is asked
// for one with the edge as audience; elsewhere it is read from --oidc-token-file or
// WICKET_OIDC_TOKEN (GitLab's `id_tokens:`, a Kubernetes projected token). It is exchanged at
// the edge (RFC 8693) for an app token; a refusal is exit 77 with the edge's sentence, which
// names the claim that did not match.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { fromEnv, type Env } from "../cli/args.ts";
import { configError, deniedError, temporaryError, unreachableError } from "../cli/exit.ts";
import { withLock } from "../cli/lock.ts";
import { log, oneLine } from "../cli/log.ts";
import { isLoopbackHost } from "../net/address.ts";
import { privateDir, tokensDir, wicketHome, workloadTokenPath, writePrivate } from "../paths.ts";
import type { IdTokenSource } from "./dial.ts";
import { isFresh } from "./files.ts";
import { discover, tokenExchange } from "./oauth.ts";
import { edgeBase } from "./signin.ts";


/** The ID token the job has, if it has one: --oidc-token-file, WICKET_OIDC_TOKEN, or the GitHub Actions runner's. */
export function idTokenSource(args: { "oidc-token-file"?: unknown }, env: Env = process.env): IdTokenSource | undefined {
  const file = fromEnv(args["oidc-token-file"], "oidc-token-file");
  if (file) return { kind: "file", path: file };
  const token = env.WICKET_OIDC_TOKEN?.trim();
  if (token) return { kind: "env", token };
  const url = env.ACTIONS_ID_TOKEN_REQUEST_URL;
  const requestToken = env.ACTIONS_ID_TOKEN_REQUEST_TOKEN;
  if (url && requestToken) return { kind: "actions", url, requestToken };
  return undefined;
}

/** The GitHub Actions runner's answer: `{ "value": "<jwt>" }` for `?audience=…` with the request token as bearer. */
async function actionsIdToken(src: { url: string; requestToken: string }, audience: string): Promise<string> {
  const u = URL.parse(src.url);
  // the request token goes there: only to https, or to this machine
  if (!u || !(u.protocol === "https:" || (u.protocol === "http:" && isLoopbackHost(u.hostname)))) throw configError(`ACTIONS_ID_TOKEN_REQUEST_URL is not an https URL; is this a GitHub Actions job?`);
  u.searchParams.set("audience", audience);
  let res: Response;
  try {
    res = await fetch(u, { headers: { authorization: `bearer ${src.requestToken}`, accept: "application/json" }, signal: AbortSignal.timeout(15_000) });
  } catch (e) {
    throw unreachableError(`cannot ask GitHub Actions for an ID token (${u.host}): ${(e as Error).message}`);
  }
  const body = (await res.json().catch(() => undefined)) as { value?: unknown } | undefined;
  if (res.ok && typeof body?.value === "string" && body.value) return body.value;
  if (res.status === 401 || res.status === 403) throw deniedError(`GitHub Actions gave no ID token (HTTP ${res.status}); give the job \`permissions: id-token: write\``);
  throw temporaryError(`GitHub Actions gave no ID token (HTTP ${res.status}); try again`);
}

function readIdToken(src: Exclude<IdTokenSource, { kind: "actions" }>): string {
  if (src.kind === "env") return src.token;
  try {
    const t = readFileSync(src.path, "utf8").trim();
    if (t) return t;
  } catch (e) {
    throw configError(`cannot read the ID token in ${src.path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  throw configError(`${src.path} is empty; it should hold the job's ID token`);
}

export type WorkloadSignIn = { hostname: string; edge?: string; ca?: string; source: IdTokenSource; env?: Env };

async function exchange(o: WorkloadSignIn, idToken: string, meta: Awaited<ReturnType<typeof discover>>): Promise<{ token: string; expiresIn?: number }> {
  const r = await tokenExchange(meta, idToken, o.hostname, o.ca);
  if ("token" in r) return { token: r.token.access_token, expiresIn: r.token.expires_in };
  const why = oneLine(r.description).slice(0, 1000);
  switch (r.error) {
    case "access_denied":
    case "invalid_grant":
      throw deniedError(why);
    case "invalid_target":
      throw configError(why);
    case "unsupported_grant_type":
      throw configError(`the edge at ${new URL(meta.issuer).host} takes no workload ID tokens (an older wicket?): ${why}`);
    default:
      throw temporaryError(`the edge did not exchange the ID token: ${why}`);
  }
}

/**
 * An app token for the job. From GitHub Actions each call gets a new ID token and exchanges it.
 * A token from a file or the environment is accepted once by the edge, so its app token is kept
 * under a name only that same ID token finds (two jobs on one runner share no app token) and
 * reused while it lasts; `refused` is one the edge turned down, not to be kept.
 */
export async function workloadAppToken(o: WorkloadSignIn, refused?: string): Promise<string> {
  const meta = await discover(edgeBase(o), o.ca);
  // The edge's public URL is the audience it wants unless its admin chose another for the issuer.
  const audience = (o.env ?? process.env).WICKET_OIDC_AUDIENCE || meta.issuer;
  if (o.source.kind === "actions") return (await exchange(o, await actionsIdToken(o.source, audience), meta)).token;
  const idToken = readIdToken(o.source);
  const path = workloadTokenPath(o.hostname, createHash("sha256").update(idToken).digest("hex").slice(0, 32));
  privateDir(wicketHome());
  privateDir(tokensDir());
  return withLock(`${path}.lock`, async () => {
    let kept: string | undefined;
    try {
      kept = readFileSync(path, "utf8").trim();
    } catch {
      kept = undefined;
    }
    if (kept && kept !== refused && isFresh(kept)) return kept;
    const { token } = await exchange(o, idToken, meta);
    writePrivate(path, token + "\n");
    log.debug(`exchanged the job's ID token for an app token for ${o.hostname}`);
    return token;
  });
}
