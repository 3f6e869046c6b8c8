// Checks the ad-hoc code signature of a 64-bit Mach-O executable without a Mac: Apple
// silicon refuses to run an arm64 binary whose signature does not cover its bytes, which is
// what happens when anything is appended after signing. An ad-hoc signature is a
// CodeDirectory of SHA-256 page hashes; this recomputes them all.
const MH_MAGIC_64 = 0xfeedfacf;
const LC_CODE_SIGNATURE = 0x1d;
const CSMAGIC_EMBEDDED_SIGNATURE = 0xfade0cc0;
const CSMAGIC_CODEDIRECTORY = 0xfade0c02;
const CS_HASHTYPE_SHA256 = 2;

/** Returns what is wrong with the signature, or undefined when every page hash matches. */
export async function machoSignatureProblem(path: string): Promise<string | undefined> {
  const bytes = new Uint8Array(await Bun.file(path).arrayBuffer());
  const le = new DataView(bytes.buffer);
  if (le.getUint32(0, true) !== MH_MAGIC_64) return "not a 64-bit little-endian Mach-O file";
  const ncmds = le.getUint32(16, true);
  let off = 32;
  let sig: { dataoff: number; datasize: number } | undefined;
  for (let i = 0; i < ncmds; i++) {
    const cmd = le.getUint32(off, true);
    if (cmd === LC_CODE_SIGNATURE) sig = { dataoff: le.getUint32(off + 8, true), datasize: le.getUint32(off + 12, true) };
    off += le.getUint32(off + 4, true);
  }
  if (!sig) return "no LC_CODE_SIGNATURE load command: unsigned";
  if (sig.dataoff + sig.datasize > bytes.length) return `the signature (${sig.dataoff}+${sig.datasize}) runs past the end of the file (${bytes.length})`;

  // Signature blobs are big-endian.
  const be = (o: number) => le.getUint32(o, false);
  const sb = sig.dataoff;
  if (be(sb) !== CSMAGIC_EMBEDDED_SIGNATURE) return "the signature is not an embedded-signature SuperBlob";
  for (let i = 0, count = be(sb + 8); i < count; i++) {
    const cd = sb + be(sb + 12 + i * 8 + 4);
    if (be(cd) !== CSMAGIC_CODEDIRECTORY || bytes[cd + 37] !== CS_HASHTYPE_SHA256) continue;
    const hashOffset = be(cd + 16);
    const nCodeSlots = be(cd + 28);
    const codeLimit = be(cd + 32);
    const hashSize = bytes[cd + 36]!;
    const pageSize = 2 ** bytes[cd + 39]!;
    if (codeLimit !== sig.dataoff) return `the signature covers ${codeLimit} bytes, but the code runs to ${sig.dataoff}`;
    if (nCodeSlots !== Math.ceil(codeLimit / pageSize)) return `${nCodeSlots} page hashes for ${Math.ceil(codeLimit / pageSize)} pages`;
    for (let p = 0; p < nCodeSlots; p++) {
      const page = bytes.subarray(p * pageSize, Math.min((p + 1) * pageSize, codeLimit));
      const want = bytes.subarray(cd + hashOffset + p * hashSize, cd + hashOffset + (p + 1) * hashSize);
      const got = Bun.SHA256.hash(page) as Uint8Array;
      if (!want.every((b, j) => b === got[j])) return `page ${p} (bytes ${p * pageSize}..) does not match its hash`;
    }
    return undefined;
  }
  return "no SHA-256 CodeDirectory in the signature";
}
