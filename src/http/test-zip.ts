// Test helper: zip archives (PKWARE APPNOTE.TXT) built with yazl, and byte edits of their headers that make hostile
// ones (entry names yazl refuses to write, sizes that lie), as a crafted upload would carry them.
import yazl from 'yazl';

export interface ZipInput {
  readonly name: string;
  readonly data: Buffer;
  /** Deflate (default) or store. */
  readonly compress?: boolean;
}

export async function buildZip(entries: readonly ZipInput[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const e of entries) {
    if (e.name.endsWith('/')) zip.addEmptyDirectory(e.name);
    else zip.addBuffer(e.data, e.name, { compress: e.compress ?? true });
  }
  zip.end();
  const parts: Buffer[] = [];
  for await (const chunk of zip.outputStream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

/** Replaces an entry name by another of the same length in the local header and the central directory. */
export function renameEntry(zip: Buffer, from: string, to: string): Buffer {
  if (Buffer.byteLength(from) !== Buffer.byteLength(to)) throw new Error('renameEntry keeps the length');
  const out = Buffer.from(zip);
  const a = Buffer.from(from);
  let found = 0;
  for (let i = out.indexOf(a); i !== -1; i = out.indexOf(a, i + a.length)) {
    Buffer.from(to).copy(out, i);
    found++;
  }
  if (found === 0) throw new Error(`no entry ${from}`);
  return out;
}

/** Central directory file header offsets (APPNOTE 4.3.12), by entry name. */
function centralDirectory(zip: Buffer): Map<string, number> {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  let at = zip.readUInt32LE(eocd + 16);
  const out = new Map<string, number>();
  for (let n = zip.readUInt16LE(eocd + 10); n > 0; n--) {
    const nameLength = zip.readUInt16LE(at + 28);
    out.set(zip.toString('utf8', at + 46, at + 46 + nameLength), at);
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return out;
}

/** Makes the central directory declare another uncompressed size for `name` (a zip bomb lies there). */
export function declareSize(zip: Buffer, name: string, uncompressedSize: number): Buffer {
  const at = centralDirectory(zip).get(name);
  if (at === undefined) throw new Error(`no entry ${name}`);
  const out = Buffer.from(zip);
  out.writeUInt32LE(uncompressedSize, at + 24);
  return out;
}
