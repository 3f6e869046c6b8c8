// The options every access command builds from its arguments (lib/cli/args.ts's fragments):
// where and how it dials an application, and how a browser sign-in starts. Here, not in
// lib/cli, because they are the access commands' own: lib/cli is below lib/access and
// imports nothing from it.
import { edgeOf, envFlag, fromEnv, hostnameArg } from "../cli/args.ts";
import { usageError } from "../cli/exit.ts";
import type { SignInMode } from "./connect.ts";
import type { DialOptions } from "./dial.ts";
import { idTokenSource } from "./workload.ts";

export function signInMode(args: { browser?: unknown }, signal?: AbortSignal): SignInMode {
  return { browser: args.browser === false || envFlag("WICKET_NO_BROWSER") ? "print" : "open", signal };
}

/** The dial options every access command shares: hostname, edge, CA and service token. */
export async function dialOptions(args: Record<string, unknown>): Promise<DialOptions> {
  if (!String(args.hostname ?? "").trim()) throw usageError("--hostname is required, for example --hostname ssh.example.com");
  const hostname = hostnameArg(args.hostname, "--hostname ssh.example.com");
  const id = fromEnv(args.id, "service-token-id", "TUNNEL_SERVICE_TOKEN_ID");
  const secret = fromEnv(args.secret, "service-token-secret", "TUNNEL_SERVICE_TOKEN_SECRET");
  if (Boolean(id) !== Boolean(secret)) throw usageError("a service token needs both --id and --secret");
  const serviceToken = id && secret ? { id, secret } : undefined;
  // A service token given wins; else a job's ID token, found in its environment, is used.
  return { hostname, ...(await edgeOf(args)), serviceToken, workload: serviceToken ? undefined : idTokenSource(args) };
}
