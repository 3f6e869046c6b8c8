// The one internal of the ssh2 package that lib/ssh/ssh2-cert.ts uses (ssh2 ships no types for it).
declare module "ssh2/lib/protocol/utils.js" {
  export function sendPacket(proto: unknown, packet: Uint8Array, bypass?: boolean): boolean;
}
