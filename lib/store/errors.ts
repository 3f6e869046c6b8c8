// Errors the store raises for things a caller asked for: each is a WicketError (exit code
// 64 on the command line) that also says which HTTP status the admin API answers with.
import { EXIT, WicketError } from "../cli/exit.ts";

export type StoreErrorKind = "invalid" | "not-found" | "conflict" | "forbidden";

export class StoreError extends WicketError {
  constructor(
    message: string,
    readonly kind: StoreErrorKind,
  ) {
    super(message, kind === "forbidden" ? EXIT.denied : EXIT.usage);
    this.name = "StoreError";
  }
}

export const invalid = (m: string) => new StoreError(m, "invalid");
export const notFound = (m: string) => new StoreError(m, "not-found");
export const conflict = (m: string) => new StoreError(m, "conflict");
/** Not this caller's to change (exit code 77 on the command line). */
export const forbidden = (m: string) => new StoreError(m, "forbidden");
