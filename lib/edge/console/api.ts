// The console's changes and reads go through the admin API's own code (lib/edge/admin/api.ts):
// each is a request to the same route, authorised for the same person by the same function,
// so the console can do nothing the CLI could not, and answers with the same sentences.
import { handleAdminAs, type Admin, type AdminContext } from "../admin/api.ts";

export type ApiAnswer<T> = { ok: true; status: number; body: T } | { ok: false; status: number; error: string };

type Method = "GET" | "POST" | "PATCH" | "DELETE";

/** The admin API's own response to one call as `who` (a recording's asciicast streams). */
export function apiResponse(ctx: AdminContext, who: Admin, method: Method, path: string, body?: unknown): Promise<Response> {
  const url = new URL(`/api/v1/${path}`, ctx.publicUrl);
  const req = new Request(url.href, { method, headers: body === undefined ? {} : { "content-type": "application/json" }, body: body === undefined ? undefined : JSON.stringify(body) });
  return handleAdminAs(req, url, ctx, who);
}

/** One admin API call as `who`; `path` is relative to /api/v1/. */
export async function callApi<T>(ctx: AdminContext, who: Admin, method: Method, path: string, body?: unknown): Promise<ApiAnswer<T>> {
  const res = await apiResponse(ctx, who, method, path, body);
  const text = await res.text();
  const parsed = (res.headers.get("content-type") ?? "").includes("json") ? (JSON.parse(text) as T & { error?: string }) : (text as T & { error?: string });
  if (res.ok) return { ok: true, status: res.status, body: parsed };
  return { ok: false, status: res.status, error: typeof parsed === "object" && parsed?.error ? parsed.error : `the edge answered ${res.status}` };
}
