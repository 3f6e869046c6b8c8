// The zone credential file (`cert.pem`, what `tunnel login` saves and `edge tunnel-cert`
// writes): a PEM-style block holding {edge, zone, id, secret} as base64 JSON, followed by
// the edge's CA certificate when the edge has its own CA, so `wicket tunnel --origincert`
// needs nothing else.
import { configError } from "../cli/exit.ts";

export type ZoneCredentialFile = {
  /** The edge's public URL. */
  edge: string;
  zone: string;
  id: string;
  secret: string;
  /** The edge's CA certificate(s), PEM, when the edge is not signed by a public CA. */
  caPem?: string;
};

const BEGIN = "-----BEGIN WICKET ZONE CREDENTIAL-----";
const END = "-----END WICKET ZONE CREDENTIAL-----";

const wrap = (s: string) => s.match(/.{1,64}/g)!.join("\n");

export function formatZoneCredential(c: ZoneCredentialFile): string {
  const body = Buffer.from(JSON.stringify({ edge: c.edge, zone: c.zone, id: c.id, secret: c.secret })).toString("base64");
  let text = `${BEGIN}\n${wrap(body)}\n${END}\n`;
  if (c.caPem) text += c.caPem.trim() + "\n";
  return text;
}

/** Reads a zone credential file's text; `file` names it in errors. */
export function parseZoneCredential(text: string, file = "the zone credential file"): ZoneCredentialFile {
  const bad = (what: string) => configError(`${file} is not a valid wicket zone credential (${what}); get a new one with "wicket tunnel login" or "wicket edge tunnel-cert"`);
  const start = text.indexOf(BEGIN);
  const end = text.indexOf(END, start);
  if (start < 0) throw bad(`no "${BEGIN}" block`);
  if (end < 0) throw bad(`the credential block has no end line`);
  const b64 = text.slice(start + BEGIN.length, end).replace(/\s+/g, "");
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(b64, "base64").toString("utf8"));
  } catch {
    throw bad("the credential block does not decode");
  }
  const j = json as Record<string, unknown>;
  for (const k of ["edge", "zone", "id", "secret"] as const) {
    if (typeof j?.[k] !== "string" || !j[k]) throw bad(`"${k}" is missing`);
  }
  try {
    new URL(j.edge as string);
  } catch {
    throw bad(`"edge" is not a URL`);
  }
  const certs = text.slice(end + END.length).match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
  const out: ZoneCredentialFile = { edge: j.edge as string, zone: j.zone as string, id: j.id as string, secret: j.secret as string };
  if (certs) out.caPem = certs.join("\n") + "\n";
  return out;
}
