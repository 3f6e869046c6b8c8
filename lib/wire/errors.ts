import { ResetCode } from "./frame.ts";

/** A peer broke the framing rules; the connection cannot continue. */
export class ProtocolError extends Error {
  readonly code = ResetCode.protocolError;
  constructor(message: string) {
    super(message);
    this.name = "ProtocolError";
  }
}
