// Exit codes are part of the interface: scripts and CI jobs branch on them (DESIGN.md).
export const EXIT = {
  ok: 0,
  bug: 1,
  usage: 64,
  unreachable: 69,
  temporary: 75,
  denied: 77,
  config: 78,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the user should read as one sentence, with the exit code it maps to. */
export class WicketError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.bug,
  ) {
    super(message);
    this.name = "WicketError";
  }
}

export const usageError = (m: string) => new WicketError(m, EXIT.usage);
export const configError = (m: string) => new WicketError(m, EXIT.config);
export const unreachableError = (m: string) => new WicketError(m, EXIT.unreachable);
export const temporaryError = (m: string) => new WicketError(m, EXIT.temporary);
export const deniedError = (m: string) => new WicketError(m, EXIT.denied);
