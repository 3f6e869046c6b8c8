// An ad-hoc code signature for the macOS executables, written on any build machine.
//
// Bun 1.4.5, cross-compiling for darwin-x64, moves the runtime's signature past our bundle
// but leaves it as it was: its page hashes cover the runtime, not the file (the known
// upstream bug oven-sh/bun#39837), and a Mac that enforces signatures kills the binary. So
// every macOS executable is signed again here, the way Bun signs darwin-arm64 and the linker
// signs ad hoc: one SHA-256 CodeDirectory over every 4 KiB page before the signature, no
// certificate. (Notarised releases would be signed on a Mac on top of this.)
import { chmodSync, renameSync, statSync } from "node:fs";

const MH_MAGIC_64 = 0xfeedfacf;
const LC_SEGMENT_64 = 0x19;
const LC_CODE_SIGNATURE = 0x1d;
const CSMAGIC_EMBEDDED_SIGNATURE = 0xfade0cc0;
const CSMAGIC_CODEDIRECTORY = 0xfade0c02;
const CS_ADHOC = 0x2;
const CS_LINKER_SIGNED = 0x20000;
const CS_EXECSEG_MAIN_BINARY = 0x1;
const CD_VERSION = 0x20400; // has the exec-segment fields
const CD_HEADER = 88;
const PAGE = 4096;
const SEGMENT_ALIGN = 0x4000; // what ld64 rounds __LINKEDIT's vmsize to, on x86_64 and arm64 alike

/** Signs the file in place; for Bun's darwin-arm64 output the result is byte for byte Bun's own. */
export async function adhocSign(path: string): Promise<void> {
  const file = new Uint8Array(await Bun.file(path).arrayBuffer());
  const le = new DataView(file.buffer);
  if (le.getUint32(0, true) !== MH_MAGIC_64) throw new Error(`${path}: not a 64-bit Mach-O executable`);
  let sigCmd = -1;
  let linkedit = -1;
  let textSize = 0n;
  for (let i = 0, off = 32, n = le.getUint32(16, true); i < n; i++, off += le.getUint32(off + 4, true)) {
    const cmd = le.getUint32(off, true);
    if (cmd === LC_CODE_SIGNATURE) sigCmd = off;
    if (cmd !== LC_SEGMENT_64) continue;
    const name = new TextDecoder().decode(file.subarray(off + 8, off + 24)).replace(/\0+$/, "");
    if (name === "__LINKEDIT") linkedit = off;
    if (name === "__TEXT") textSize = le.getBigUint64(off + 48, true);
  }
  if (sigCmd < 0 || linkedit < 0) throw new Error(`${path}: no LC_CODE_SIGNATURE or __LINKEDIT to sign into`);

  // Everything before the old signature is code; the new one replaces it at the same offset.
  const codeLimit = le.getUint32(sigCmd + 8, true);
  const slots = Math.ceil(codeLimit / PAGE);
  const ident = new TextEncoder().encode("a.out\0"); // the linker's and Bun's name for an ad-hoc signed program
  const hashOffset = CD_HEADER + ident.length;
  const cdLength = hashOffset + slots * 32;
  const sigLength = 20 + cdLength;

  // The load commands are in page 0, which is hashed: settle them first.
  le.setUint32(sigCmd + 12, sigLength, true);
  const linkeditSize = codeLimit + sigLength - Number(le.getBigUint64(linkedit + 40, true));
  le.setBigUint64(linkedit + 48, BigInt(linkeditSize), true);
  const vmsize = Math.ceil(linkeditSize / SEGMENT_ALIGN) * SEGMENT_ALIGN;
  if (BigInt(vmsize) > le.getBigUint64(linkedit + 32, true)) le.setBigUint64(linkedit + 32, BigInt(vmsize), true);

  const out = new Uint8Array(codeLimit + sigLength);
  out.set(file.subarray(0, codeLimit));
  const be = new DataView(out.buffer, codeLimit);
  be.setUint32(0, CSMAGIC_EMBEDDED_SIGNATURE);
  be.setUint32(4, sigLength);
  be.setUint32(8, 1); // one blob:
  be.setUint32(12, 0); // CSSLOT_CODEDIRECTORY
  be.setUint32(16, 20); // at offset 20
  const cd = 20;
  be.setUint32(cd, CSMAGIC_CODEDIRECTORY);
  be.setUint32(cd + 4, cdLength);
  be.setUint32(cd + 8, CD_VERSION);
  be.setUint32(cd + 12, CS_ADHOC | CS_LINKER_SIGNED);
  be.setUint32(cd + 16, hashOffset);
  be.setUint32(cd + 20, CD_HEADER); // identOffset
  be.setUint32(cd + 24, 0); // nSpecialSlots: no requirements, entitlements or Info.plist
  be.setUint32(cd + 28, slots);
  be.setUint32(cd + 32, codeLimit);
  be.setUint8(cd + 36, 32); // hashSize
  be.setUint8(cd + 37, 2); // CS_HASHTYPE_SHA256
  be.setUint8(cd + 38, 0); // platform
  be.setUint8(cd + 39, Math.log2(PAGE));
  // spare2, scatterOffset, teamOffset, spare3, codeLimit64 and execSegBase stay 0
  be.setBigUint64(cd + 72, textSize); // execSegLimit
  be.setBigUint64(cd + 80, BigInt(CS_EXECSEG_MAIN_BINARY));
  out.set(ident, codeLimit + cd + CD_HEADER);
  for (let p = 0; p < slots; p++) {
    const page = out.subarray(p * PAGE, Math.min((p + 1) * PAGE, codeLimit));
    out.set(Bun.SHA256.hash(page) as Uint8Array, codeLimit + cd + hashOffset + p * 32);
  }
  // A new file, renamed over the old: macOS caches a signature per inode.
  await Bun.write(`${path}.signing`, out);
  chmodSync(`${path}.signing`, statSync(path).mode & 0o777);
  renameSync(`${path}.signing`, path);
}
