// DICOM PS3.5 §7.1 (data element encoding), §7.5 (nesting of data sets) and §8.1.1 / Annex A.4 (native and
// encapsulated Pixel Data): where each frame of Pixel Data (7FE0,0010) lies in a stored Part 10 file, so that a frame
// is read by byte ranges without parsing (or holding) the whole file.

export const IMPLICIT_VR_LE = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';
export const EXPLICIT_VR_BE = '1.2.840.10008.1.2.2';
export const DEFLATED_LE = '1.2.840.10008.1.2.1.99';
/** Transfer syntaxes whose Pixel Data is native (not encapsulated), PS3.5 A.1–A.3, A.5. */
export const NATIVE_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set([IMPLICIT_VR_LE, EXPLICIT_VR_LE, EXPLICIT_VR_BE, DEFLATED_LE]);

/** Why frames cannot be located: the file is not what its index row says, or its encoding is not supported here. */
export class PixelDataError extends Error {
  constructor(readonly kind: 'unsupported' | 'malformed', message: string) {
    super(message);
  }
}

/** Pixel Data (7FE0,0010) at the top level of the data set: where its value starts, and its length if defined. */
export interface PixelDataPosition {
  readonly valueOffset: number;
  /** Undefined for encapsulated pixel data (undefined length, PS3.5 A.4). */
  readonly length?: number;
}

const UNDEFINED = 0xffffffff;
const PIXEL_DATA = 0x7fe00010;
const ITEM = 0xfffee000;
const ITEM_END = 0xfffee00d;
const SEQUENCE_END = 0xfffee0dd;
/** VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 Table 7.1-1). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/** Thrown inside the scanner when the buffer ends before the element does. */
class Short extends Error {}

interface Header { tag: number; vr?: string; length: number; size: number }

function header(b: Buffer, pos: number, explicit: boolean, le: boolean): Header {
  if (pos + 8 > b.length) throw new Short();
  const group = le ? b.readUInt16LE(pos) : b.readUInt16BE(pos);
  const element = le ? b.readUInt16LE(pos + 2) : b.readUInt16BE(pos + 2);
  const tag = ((group << 16) | element) >>> 0;
  const u32 = (at: number) => (le ? b.readUInt32LE(at) : b.readUInt32BE(at));
  if (group === 0xfffe || !explicit) return { tag, length: u32(pos + 4), size: 8 };
  const vr = b.toString('latin1', pos + 4, pos + 6);
  if (LONG_VRS.has(vr)) {
    if (pos + 12 > b.length) throw new Short();
    return { tag, vr, length: u32(pos + 8), size: 12 };
  }
  return { tag, vr, length: le ? b.readUInt16LE(pos + 6) : b.readUInt16BE(pos + 6), size: 8 };
}

/**
 * Skips the items of an undefined-length value (a sequence, or encapsulated data nested in one) up to its Sequence
 * Delimitation Item. Items of undefined length hold data sets; in an undefined-length UN they are implicit VR
 * little endian (PS3.5 §6.2.2).
 */
function skipItems(b: Buffer, pos: number, explicit: boolean, le: boolean): number {
  for (;;) {
    const h = header(b, pos, explicit, le);
    pos += h.size;
    if (h.tag === SEQUENCE_END) return pos;
    if (h.tag !== ITEM) throw new PixelDataError('malformed', `expected an item at byte ${pos - h.size}`);
    if (h.length !== UNDEFINED) {
      pos += h.length;
      continue;
    }
    for (;;) {
      const e = header(b, pos, explicit, le);
      if (e.tag === ITEM_END) {
        pos += e.size;
        break;
      }
      pos = skipElement(b, pos, e, explicit, le);
    }
  }
}

function skipElement(b: Buffer, pos: number, h: Header, explicit: boolean, le: boolean): number {
  if (h.length !== UNDEFINED) return pos + h.size + h.length;
  const nestedExplicit = explicit && h.vr !== 'UN';
  return skipItems(b, pos + h.size, nestedExplicit, le);
}

/**
 * Finds Pixel Data in the beginning of a Part 10 file. `complete` says whether `file` is the whole file. Returns
 * `'more'` when the bytes end before Pixel Data is found (read more and call again), undefined when the data set
 * has no Pixel Data.
 */
export function locatePixelData(file: Buffer, transferSyntaxUid: string, complete: boolean): PixelDataPosition | 'more' | undefined {
  if (transferSyntaxUid === DEFLATED_LE) throw new PixelDataError('unsupported', 'frames of a deflated data set are not served');
  try {
    if (file.length < 132) throw new Short();
    if (file.toString('latin1', 128, 132) !== 'DICM') throw new PixelDataError('malformed', 'not a Part 10 file (no DICM prefix)');
    let pos = 132;
    // File Meta Information: explicit VR little endian, group 0002 (PS3.10 §7.1).
    for (;;) {
      if (pos + 2 > file.length) throw new Short();
      if (file.readUInt16LE(pos) !== 0x0002) break;
      pos = skipElement(file, pos, header(file, pos, true, true), true, true);
    }
    const explicit = transferSyntaxUid !== IMPLICIT_VR_LE;
    const le = transferSyntaxUid !== EXPLICIT_VR_BE;
    for (;;) {
      if (pos >= file.length) {
        if (complete) return undefined;
        throw new Short();
      }
      const h = header(file, pos, explicit, le);
      if (h.tag === PIXEL_DATA) return { valueOffset: pos + h.size, ...(h.length === UNDEFINED ? {} : { length: h.length }) };
      if (h.tag > PIXEL_DATA && h.tag !== ITEM) return undefined;
      pos = skipElement(file, pos, h, explicit, le);
    }
  } catch (e) {
    if (e instanceof Short) {
      if (complete) throw new PixelDataError('malformed', 'the file ends inside a data element');
      return 'more';
    }
    throw e;
  }
}

/** A byte range of the file, `end` exclusive. */
export interface ByteRange { readonly start: number; readonly end: number }

/** The image geometry of PS3.3 C.7.6.3 that sizes a native frame. */
export interface FrameGeometry {
  readonly rows: number;
  readonly columns: number;
  readonly samplesPerPixel: number;
  readonly bitsAllocated: number;
  readonly numberOfFrames: number;
}

/** The byte range of each native frame (PS3.5 §8.1.1: frames follow one another, each rows × columns × samples). */
export function nativeFrames(position: PixelDataPosition, g: FrameGeometry): ByteRange[] {
  const bits = g.rows * g.columns * g.samplesPerPixel * g.bitsAllocated;
  if (bits === 0) throw new PixelDataError('malformed', 'Rows, Columns, Samples per Pixel or Bits Allocated missing');
  if (bits % 8 !== 0 && g.numberOfFrames > 1) throw new PixelDataError('unsupported', 'frames that do not start on a byte boundary (1-bit pixels) are not served');
  const size = Math.ceil(bits / 8);
  const length = position.length ?? 0;
  if (length < size * g.numberOfFrames) throw new PixelDataError('malformed', `Pixel Data holds ${length} bytes, ${size * g.numberOfFrames} expected`);
  return Array.from({ length: g.numberOfFrames }, (_, i) => ({ start: position.valueOffset + i * size, end: position.valueOffset + (i + 1) * size }));
}

/** One item of encapsulated Pixel Data: where its value lies, and its first bytes (markers). */
export interface Fragment extends ByteRange {
  /** Up to the first 4 bytes of the fragment. */
  readonly head: Buffer;
}

export interface EncapsulatedItems {
  /** The Basic Offset Table's offsets (empty when the table is empty). */
  readonly offsets: readonly number[];
  /** Offset in the file of the first fragment's item tag: the Basic Offset Table's offsets are relative to it. */
  readonly firstFragmentAt: number;
  readonly fragments: readonly Fragment[];
}

/**
 * Reads the item headers of encapsulated Pixel Data from a stream of the file from `valueOffset` on, skipping the
 * fragments' data (only the Basic Offset Table and each fragment's first bytes are kept).
 */
export async function scanEncapsulated(stream: AsyncIterable<Uint8Array>, valueOffset: number): Promise<EncapsulatedItems> {
  let pending = Buffer.alloc(0);
  let at = valueOffset; // file offset of pending[0]
  let skip = 0; // bytes of the current item's value still to pass
  let keep: { into: Buffer[]; left: number } | undefined;
  const items: { start: number; length: number; head: Buffer }[] = [];
  let bot: Buffer | undefined;
  for await (const chunk of stream) {
    pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
    let pos = 0;
    for (;;) {
      if (skip > 0) {
        const n = Math.min(skip, pending.length - pos);
        if (keep && keep.left > 0) {
          const part = pending.subarray(pos, pos + Math.min(n, keep.left));
          keep.into.push(Buffer.from(part));
          keep.left -= part.length;
        }
        skip -= n;
        pos += n;
        if (skip > 0) break;
      }
      if (keep) {
        const data = Buffer.concat(keep.into);
        if (bot === undefined) bot = data;
        else items[items.length - 1].head = data;
        keep = undefined;
      }
      if (pending.length - pos < 8) break;
      const tag = ((pending.readUInt16LE(pos) << 16) | pending.readUInt16LE(pos + 2)) >>> 0;
      const length = pending.readUInt32LE(pos + 4);
      const start = at + pos + 8;
      pos += 8;
      if (tag === SEQUENCE_END) return finish(bot, items);
      if (tag !== ITEM || length === UNDEFINED) throw new PixelDataError('malformed', `expected a fragment item at byte ${start - 8}`);
      if (bot !== undefined) items.push({ start, length, head: Buffer.alloc(0) });
      keep = { into: [], left: bot === undefined ? length : Math.min(4, length) };
      skip = length;
      if (skip === 0) continue;
    }
    at += pos;
    pending = pending.subarray(pos);
  }
  throw new PixelDataError('malformed', 'encapsulated Pixel Data ends without a Sequence Delimitation Item');
}

function finish(bot: Buffer | undefined, items: { start: number; length: number; head: Buffer }[]): EncapsulatedItems {
  const table = bot ?? Buffer.alloc(0);
  const offsets = Array.from({ length: Math.floor(table.length / 4) }, (_, i) => table.readUInt32LE(i * 4));
  const firstFragmentAt = items.length > 0 ? items[0].start - 8 : 0;
  return { offsets, firstFragmentAt, fragments: items.map((i) => ({ start: i.start, end: i.start + i.length, head: i.head })) };
}

/** JPEG / JPEG-LS start of image (FFD8), JPEG 2000 start of codestream (FF4F): a fragment that begins a frame. */
const startsFrame = (f: Fragment) => f.head.length >= 2 && f.head[0] === 0xff && (f.head[1] === 0xd8 || f.head[1] === 0x4f);

/**
 * The fragments of each frame (PS3.5 A.4): all of them for a single frame; per the Basic Offset Table when it is
 * filled; one per frame when there are as many fragments as frames; else split where a fragment begins with a JPEG
 * or JPEG 2000 start marker (the way readers without an offset table delimit frames).
 */
export function framesOf(items: EncapsulatedItems, numberOfFrames: number): Fragment[][] {
  const { fragments, offsets } = items;
  if (numberOfFrames <= 1) return [[...fragments]];
  if (offsets.length === numberOfFrames) {
    const frames: Fragment[][] = offsets.map(() => []);
    for (const f of fragments) {
      const rel = f.start - 8 - items.firstFragmentAt;
      let k = offsets.length - 1;
      while (k > 0 && offsets[k] > rel) k--;
      frames[k].push(f);
    }
    if (frames.every((f) => f.length > 0)) return frames;
  }
  if (fragments.length === numberOfFrames) return fragments.map((f) => [f]);
  const frames: Fragment[][] = [];
  for (const f of fragments) {
    if (startsFrame(f) || frames.length === 0) frames.push([f]);
    else frames[frames.length - 1].push(f);
  }
  if (frames.length === numberOfFrames) return frames;
  throw new PixelDataError('unsupported', `cannot delimit ${numberOfFrames} frames among ${fragments.length} fragments (no offset table)`);
}
