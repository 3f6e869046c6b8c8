// The edge's own keys, certificates and nodes (`wicket edge signing-key`, `cert`, `node`).
import { allSigningKeys, retireSigningKeysExcept, listNodes, listAcmeCertificates, type AcmeCertificate } from "../../store/index.ts";
import { reloadSigningKeys, rotateSigningKey } from "../../auth/jwt.ts";
import { DEFAULT_KEEPALIVE } from "../../wire/mux.ts";
import { HttpError, json, readBody, type Route, record, recheck } from "./common.ts";

/** A certificate without its key. */
const certInfo = ({ keyPem: _key, certPem: _cert, ...c }: AcmeCertificate) => c;

export const keyRoutes: Record<string, Route> = {
  // ACME certificates (issue 19): what is held, and a renewal now.
  "GET certs": async (_req, ctx) => json(200, { certs: (await listAcmeCertificates(ctx.store)).map(certInfo), acme: Boolean(ctx.acme?.()) }),
  "POST certs/:": async (_req, ctx, name, who) => {
    const acme = ctx.acme?.();
    if (!acme) throw new HttpError(409, "this edge does not get its certificates from ACME; run it with --tls acme");
    const cert = certInfo(await acme.renew(name).catch((e: Error) => Promise.reject(new HttpError(409, e.message))));
    await record(ctx, who, "cert.renew", cert.lastError ? `asked to renew the certificate for ${name}, which failed: ${cert.lastError}` : `renewed the certificate for ${name}`, { target: name });
    return json(cert.lastError ? 502 : 200, cert.lastError ? { error: `the certificate for ${name} could not be renewed: ${cert.lastError}`, cert } : { cert });
  },

  "GET nodes": async (_req, ctx) => json(200, { nodes: await listNodes(ctx.store, ctx.node?.()?.freshMs ?? DEFAULT_KEEPALIVE.timeoutMs), registry: ctx.store.adapter === "postgres" }),

  "GET signing-keys": async (_req, ctx) => {
    const keys = await allSigningKeys(ctx.store);
    const current = keys.find((k) => k.retiredAt === undefined)?.kid;
    return json(200, { keys: keys.map((k) => ({ kid: k.kid, alg: k.alg, createdAt: k.createdAt, retiredAt: k.retiredAt, current: k.kid === current })) });
  },
  "POST signing-keys": async (req, ctx, _arg, who) => {
    const b = await readBody(req);
    if (b.retireOld !== undefined && typeof b.retireOld !== "boolean") throw new HttpError(400, `"retireOld" must be true or false`);
    const kid = await rotateSigningKey(ctx.store);
    const retired = b.retireOld ? await retireSigningKeysExcept(ctx.store, kid) : [];
    if (retired.length) await reloadSigningKeys(ctx.store);
    await record(ctx, who, "signing-key.rotate", `app tokens are signed with the new key ${kid}${retired.length ? `; retired ${retired.join(", ")}, whose tokens are refused from now on` : ""}`, { target: kid });
    return json(201, { kid, retired, sessionsClosed: retired.length ? await recheck(ctx) : 0 });
  },

};
