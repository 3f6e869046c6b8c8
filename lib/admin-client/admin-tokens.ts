// The admin API's admin tokens, for `wicket edge admin-token`.
import type { AdminToken } from "../store/index.ts";
import { adminRequest, type AdminConnection } from "./client.ts";

export type AdminTokenInput = { name: string; zone?: string; readOnly?: boolean; expiresAt?: number };
export const getAdminTokens = async (c: AdminConnection) => (await adminRequest<{ tokens: AdminToken[] }>(c, "GET", "admin-tokens")).tokens;
export const postAdminToken = (c: AdminConnection, input: AdminTokenInput) => adminRequest<AdminToken & { token: string }>(c, "POST", "admin-tokens", input);
export const deleteAdminToken = async (c: AdminConnection, idOrName: string) => (await adminRequest<{ token: AdminToken }>(c, "DELETE", `admin-tokens/${encodeURIComponent(idOrName)}`)).token;
