// DICOM PS3.10 §7.1 (DICOM File Meta Information) read incrementally from a stream: a Part 10 file split into its
// meta header (the UIDs the store service is told) and the data set bytes, which follow untouched.

/** File Meta Information elements (PS3.10 Table 7.1-1) a receiver needs before the data set arrives. */
export interface Part10Meta {
  /** (0002,0010) Transfer Syntax UID: the encoding of the data set bytes. */
  readonly transferSyntaxUid: string;
  /** (0002,0002) Media Storage SOP Class UID. */
  readonly sopClassUid: string;
  /** (0002,0003) Media Storage SOP Instance UID. */
  readonly sopInstanceUid: string;
  /** (0002,0012) Implementation Class UID, when present. */
  readonly implementationClassUid?: string;
  /** (0002,0016) Source Application Entity Title, when present. */
  readonly sourceAeTitle?: string;
  /** Bytes before the data set: preamble, `DICM` and the meta group. */
  readonly headerLength: number;
}

export interface Part10Stream {
  readonly meta: Part10Meta;
  /** The data set bytes exactly as they follow the meta group; iterate it once (it continues the source). */
  readonly dataset: AsyncIterable<Uint8Array>;
}

/**
 * Why a stream is not a usable Part 10 file. `not-part10`: no 128-byte preamble followed by `DICM` (a text file, an
 * image, a bare data set without File Meta Information…); `malformed`: it says it is DICOM but its meta group cannot be
 * read or lacks a Type 1 element.
 */
export class Part10FormatError extends Error {
  constructor(readonly kind: 'not-part10' | 'malformed', message: string) {
    super(message);
  }
}

/** PS3.10 §7.1: the meta group is always Explicit VR Little Endian; these VRs have a 2-byte reserved field and a 4-byte length (PS3.5 §7.1.2). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const DEFLATED = '1.2.840.10008.1.2.1.99';
const PREFIX = 132;

/** Whether `head` (a file's first bytes) starts like a Part 10 file: a 128-byte preamble, then `DICM` (PS3.10 §7.1). */
export function hasPart10Prefix(head: Uint8Array): boolean {
  return head.byteLength >= PREFIX && Buffer.from(head.buffer, head.byteOffset + 128, 4).toString('latin1') === 'DICM';
}

/** Reads ahead from an async iterator into one buffer, only as far as asked. */
class LookAhead {
  private buf = Buffer.alloc(0);
  private done = false;
  constructor(private readonly it: AsyncIterator<Uint8Array>, private readonly limit: number) {}

  get bytes(): Buffer {
    return this.buf;
  }

  /** Ensures `n` bytes are buffered (fewer only at the end of the stream); returns how many are. */
  async fill(n: number): Promise<number> {
    if (n > this.limit) throw new Part10FormatError('malformed', `File Meta Information longer than ${this.limit} bytes`);
    while (this.buf.length < n && !this.done) {
      const next = await this.it.next();
      if (next.done) this.done = true;
      else if (next.value.byteLength > 0) this.buf = Buffer.concat([this.buf, next.value]); // a copy: sources may reuse theirs
    }
    return this.buf.length;
  }
}

function uidOf(value: Buffer): string {
  return value.toString('latin1').replace(/[\0 ]+$/, '');
}

function textOf(value: Buffer): string {
  return value.toString('latin1').trim();
}

/**
 * Reads the preamble, `DICM` and the File Meta Information of a Part 10 file from `source`, pulling only the bytes they
 * take, and hands back the data set as a stream that continues the same source. The meta group ends where its Group
 * Length (0002,0000) says; a wrong group length followed by more group 0002 elements is read on, except before a
 * deflated data set (whose first compressed bytes could look like a group 0002 tag). Throws Part10FormatError; the
 * source is then left partly read (the caller drains or destroys it).
 */
export async function readPart10Stream(source: AsyncIterable<Uint8Array>, options: { maxMetaBytes?: number } = {}): Promise<Part10Stream> {
  const it = source[Symbol.asyncIterator]();
  const ahead = new LookAhead(it, options.maxMetaBytes ?? 64 * 1024);
  const got = await ahead.fill(PREFIX);
  if (!hasPart10Prefix(ahead.bytes)) {
    throw new Part10FormatError('not-part10', got < PREFIX
      ? `not a DICOM Part 10 file: ${got} bytes, shorter than the 128-byte preamble and "DICM" prefix`
      : 'not a DICOM Part 10 file: no "DICM" prefix after the 128-byte preamble');
  }

  const values = new Map<number, Buffer>();
  let pos = PREFIX;
  let declaredEnd: number | undefined;
  for (;;) {
    if (pos === declaredEnd && uidOf(values.get(0x0010) ?? Buffer.alloc(0)) === DEFLATED) break;
    if ((await ahead.fill(pos + 4)) < pos + 4 || ahead.bytes.readUInt16LE(pos) !== 0x0002) break;
    if ((await ahead.fill(pos + 8)) < pos + 8) throw new Part10FormatError('malformed', 'File Meta Information truncated');
    const b = ahead.bytes;
    const element = b.readUInt16LE(pos + 2);
    const vr = b.toString('latin1', pos + 4, pos + 6);
    if (!/^[A-Z]{2}$/.test(vr)) throw new Part10FormatError('malformed', `File Meta Information element (0002,${element.toString(16).padStart(4, '0')}) has no explicit VR`);
    let header = 8;
    let length = b.readUInt16LE(pos + 6);
    if (LONG_VRS.has(vr)) {
      if ((await ahead.fill(pos + 12)) < pos + 12) throw new Part10FormatError('malformed', 'File Meta Information truncated');
      header = 12;
      length = ahead.bytes.readUInt32LE(pos + 8);
      if (length === 0xffffffff) throw new Part10FormatError('malformed', 'undefined length in File Meta Information');
    }
    const end = pos + header + length;
    if ((await ahead.fill(end)) < end) throw new Part10FormatError('malformed', 'File Meta Information truncated');
    const value = ahead.bytes.subarray(pos + header, end);
    values.set(element, value);
    if (element === 0x0000 && length === 4) declaredEnd = end + value.readUInt32LE(0);
    pos = end;
  }

  const required = (element: number, name: string): string => {
    const v = values.get(element);
    const text = v ? uidOf(v) : '';
    if (!text) throw new Part10FormatError('malformed', `File Meta Information lacks ${name} (0002,${element.toString(16).padStart(4, '0')})`);
    return text;
  };
  const transferSyntaxUid = required(0x0010, 'Transfer Syntax UID');
  const sopClassUid = required(0x0002, 'Media Storage SOP Class UID');
  const sopInstanceUid = required(0x0003, 'Media Storage SOP Instance UID');
  const implementation = values.get(0x0012);
  const sourceAe = values.get(0x0016);
  const meta: Part10Meta = {
    transferSyntaxUid, sopClassUid, sopInstanceUid, headerLength: pos,
    ...(implementation ? { implementationClassUid: uidOf(implementation) } : {}),
    ...(sourceAe && textOf(sourceAe) ? { sourceAeTitle: textOf(sourceAe) } : {}),
  };

  const rest = ahead.bytes.subarray(pos);
  async function* dataset(): AsyncGenerator<Uint8Array> {
    if (rest.byteLength > 0) yield rest;
    for (;;) {
      const next = await it.next();
      if (next.done) return;
      yield next.value;
    }
  }
  return { meta, dataset: dataset() };
}
