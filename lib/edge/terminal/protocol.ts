// The browser terminal's WebSocket, as both ends speak it: binary messages carry the terminal's
// bytes (keystrokes up, output down); text messages are JSON control messages.
export const TERMINAL_SOCKET_PATH = "/.wicket/terminal";
/** Where the edge's host sends a signed-in browser back to the application with a one-time code. */
export const TERMINAL_SESSION_PATH = "/.wicket/session";
/** The application host's cookie: the browser's app token (a JWT for this hostname only). */
export const APP_COOKIE = "__Host-wicket-app";

/** The largest message either way the edge takes from a browser: a paste goes in pieces this
 * size. A larger one closes the terminal (1009): the SSH channel's own window is what a paste
 * waits for, and a message is read whole before it is looked at. */
export const TERMINAL_MESSAGE_MAX = 64 * 1024;

/** Browser to edge. */
export type TerminalUp = { type: "resize"; cols: number; rows: number };
/** Edge to browser: the session's state, and why it closed (the close frame's reason is cut at 123 bytes). */
export type TerminalDown = { type: "status"; state: "connected" } | { type: "closed"; reason: string };

/** A resize as the browser sent it, or undefined when it is not one (sizes bounded). */
export function parseUp(text: string): TerminalUp | undefined {
  try {
    const m = JSON.parse(text) as Partial<TerminalUp>;
    const ok = (n: unknown, max: number): n is number => Number.isInteger(n) && (n as number) >= 1 && (n as number) <= max;
    if (m?.type === "resize" && ok(m.cols, 1000) && ok(m.rows, 500)) return { type: "resize", cols: m.cols, rows: m.rows };
  } catch {}
  return undefined;
}

/** A size from the socket URL's query, within bounds, else the default. */
export const sizeParam = (raw: string | null, fallback: number, max: number) => {
  const n = Number(raw);
  return Number.isInteger(n) && n >= 1 && n <= max ? n : fallback;
};

/** Where the edge serves the terminal's and the player's scripts and styles (bundled: no CDN). */
export const TERMINAL_ASSETS = "/assets/terminal/";
