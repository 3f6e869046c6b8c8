// The CLI's one HTTP client: an ofetch instance that trusts the CA given with --ca-file (and
// verifies the name it must, for an application reached through --edge), and one mapper from
// a network, TLS or HTTP failure to the sentence and exit code the user sees. The WebSocket
// dial (lib/access/dial.ts) classifies its failures here too.
import { FetchError, ofetch, type $Fetch, type FetchOptions } from "ofetch";
import { EXIT, unreachableError, WicketError, type ExitCode } from "./exit.ts";

export type Tls = {
  /** CA certificate(s) to trust besides the system's, PEM (--ca-file). */
  ca?: string;
  /** The name the certificate must carry when it is not the URL's host (an application behind --edge). */
  servername?: string;
};

/** The other end of a request, as a failure names it. */
export type Peer = Tls & {
  /** "the edge at https://edge.example.com:8443", "ssh.example.com" */
  where: string;
  /** Where `ca` came from, named when the certificate still does not verify. */
  caFile?: string;
  /** More advice after "pass the edge's CA with --ca-file". */
  caHint?: string;
};

/**
 * An ofetch instance for one peer. No retries unless a caller asks (ofetch retries a GET once
 * by default), and no redirects: requests carry tokens and secrets in headers, which a redirect
 * would take elsewhere. `tls` is Bun's fetch option, which ofetch hands through.
 */
export function httpClient(tls: Tls, defaults: FetchOptions = {}): $Fetch {
  const options = tls.ca || tls.servername ? { tls: { ...(tls.servername ? { servername: tls.servername } : {}), ...(tls.ca ? { ca: tls.ca } : {}) } } : {};
  return ofetch.create({ retry: 0, redirect: "error", ...defaults, ...options } as FetchOptions);
}

const NAME_MISMATCH = /ALTNAME|does not match/i;
const UNTRUSTED = /CERT|SSL|TLS|SELF.SIGNED|UNABLE.TO.(GET|VERIFY)|HOSTNAME/i;
const UNRESOLVED = /ENOTFOUND|EAI_AGAIN|getaddrinfo/i;

/**
 * A request that got no answer: `failure` is what fetch threw (ofetch's FetchError wraps it as
 * `cause`) or a WebSocket's error message.
 */
export function transportError(failure: unknown, peer: Peer): WicketError {
  const cause = (failure as { cause?: unknown } | undefined)?.cause ?? failure;
  const code = typeof cause === "object" && cause ? String((cause as { code?: unknown }).code ?? "") : "";
  const message = typeof cause === "string" ? cause : ((cause as Error | undefined)?.message ?? String(cause));
  // "WebSocket connection to '…' failed: TLS handshake failed: self signed certificate …"
  const detail = code || message.replace(/^.*failed: /, "") || "connection failed";
  const what = `${code} ${message}`;
  const { where, servername } = peer;
  if (servername && NAME_MISMATCH.test(what)) return unreachableError(`the certificate of ${where} is not valid for ${servername}; is ${servername} served by this edge?`);
  if (NAME_MISMATCH.test(what) || UNTRUSTED.test(what)) {
    const withCa = peer.caFile ? ` with the CA in ${peer.caFile}` : "";
    return unreachableError(`cannot verify the TLS certificate of ${where} (${detail})${withCa}; pass the edge's CA with --ca-file${peer.caHint ? ` (${peer.caHint})` : ""}`);
  }
  if (UNRESOLVED.test(what)) return unreachableError(`cannot resolve ${where}; check the hostname or pass --edge`);
  return unreachableError(`cannot reach ${where} (${detail}); is the edge running and --edge right?`);
}

/** The exit code for an HTTP refusal unless an API says otherwise; scripts branch on it. */
export function statusExit(status: number): ExitCode {
  if (status === 401 || status === 403) return EXIT.denied;
  if (status >= 400 && status < 500) return EXIT.usage;
  return status === 503 ? EXIT.temporary : EXIT.bug;
}

/** How one API's refusals read: the sentence from what the edge said (`{"error": …}`), and the exit code. */
export type Refusal = {
  sentence?: (said: string | undefined, status: number, statusText: string) => string;
  exit?: (status: number) => ExitCode;
};

/** An HTTP answer that is not a success, as one sentence and an exit code. */
export function refusalError(e: FetchError & { response: Response }, refusal: Refusal = {}): WicketError {
  const { status, statusText } = e.response;
  const said = typeof e.data?.error === "string" ? (e.data.error as string) : undefined;
  const sentence = refusal.sentence?.(said, status, statusText) ?? said ?? `${status} ${statusText}`.trim();
  return new WicketError(sentence, (refusal.exit ?? statusExit)(status));
}

export const isRefusal = (e: unknown): e is FetchError & { response: Response } => e instanceof FetchError && e.response !== undefined;

/** What ofetch threw for a request to `peer`, as one sentence and an exit code. */
export const requestError = (e: unknown, peer: Peer, refusal?: Refusal): WicketError => (isRefusal(e) ? refusalError(e, refusal) : transportError(e, peer));
