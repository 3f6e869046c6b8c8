// Serving a stream the edge opened: find the origin its hostname maps to, pump bytes to it
// (origin.ts), and count it. A stream no rule names is refused, the edge tells the client.
import { log } from "../cli/log.ts";
import { ResetCode, type OpenMeta } from "../wire/frame.ts";
import type { Stream } from "../wire/mux.ts";
import { routeStream, type Ingress } from "./ingress.ts";
import { pumpToOrigin, type Origin } from "./origin.ts";
import { holdStream, resumeStream } from "./resumable.ts";
import { closeIfIdle, type Connection, type TunnelRoom } from "./room.ts";

export interface Routes {
  ingress: Ingress[];
  /** Origin for streams whose hostname no rule names; absent: such streams are refused. */
  catchAll?: Origin;
}

export function serveStream(room: TunnelRoom, routes: Routes, c: Connection, opened: Stream, meta: OpenMeta) {
  const { metrics } = room;
  const host = meta.host;
  const resume = meta.resume;
  if (resume && resume.cut > 0) {
    resumeStream(room, opened, { ...meta, resume });
    return whenPathCloses(room, c, opened, "resumed stream");
  }
  const origin = routeStream(routes.ingress, routes.catchAll, host);
  metrics.streams.inc();
  if (!origin) {
    log.warn(`refused a stream for ${host}: no ingress rule names it and the catch-all refuses; add a rule for it`);
    opened.reset(ResetCode.refused, `this connector does not serve ${host}`);
    room.changed();
    return;
  }
  // a resumable stream: the origin is pumped against its end-to-end end, which outlives `opened`
  const stream = resume ? holdStream(room, opened, { ...meta, resume }) : opened;
  if (resume) whenPathCloses(room, c, opened, "stream");
  log.debug(`stream ${stream.id} on connection ${c.index} for ${host} from ${meta.client} (${meta.identity}) -> ${origin.url}`);
  pumpToOrigin(stream, origin, {
    onOriginError: (o, why) => {
      metrics.originErrors.inc({ origin: o.url });
      log.warn(`cannot reach origin ${o.url} for ${host}: ${why}; the client was told, and the next stream will try again`);
    },
    onDialed: (o, ms) => metrics.originDial.observe(ms / 1000, { origin: o.url }),
    onBytes: (direction, n) => metrics.bytes.inc({ direction }, n),
  });
  const onClose = stream.onClose;
  stream.onClose = (code, reason) => {
    onClose?.(code, reason);
    log.debug(resume ? `the origin of stream ${resume.id} closed: ${reason}` : `stream ${stream.id} closed: ${reason}`);
    room.changed();
    closeIfIdle(room, c);
  };
  room.changed();
}

/** A resumable stream's path may close while its origin lives on: a connection that moved
 * closes once its last path has. */
function whenPathCloses(room: TunnelRoom, c: Connection, path: Stream, what: string) {
  const onClose = path.onClose;
  path.onClose = (code, reason) => {
    onClose?.(code, reason);
    log.debug(`${what} ${path.id} closed: ${reason}`);
    room.changed();
    closeIfIdle(room, c);
  };
}
