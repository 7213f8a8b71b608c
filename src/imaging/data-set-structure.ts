// DICOM PS3.5 §7.1 (Data Element structure), §7.5 (nesting of Data Sets) and A.4 (encapsulated Pixel Data): a
// streaming check that a data set's elements are whole, run over the bytes as they arrive, in constant memory.
import dcmjs from 'dcmjs';

/**
 * Explicit VRs whose length is 16 bits (PS3.5 Table 7.1-2). Every other VR (OB, OW, SQ, UN, UT… Table 7.1-1) has two
 * reserved bytes and a 32-bit length; so has an unknown VR, read as UN would be.
 */
const SHORT_VRS = new Set(['AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT', 'PN', 'SH', 'SL', 'SS', 'ST', 'TM', 'UI', 'UL', 'US']);
const UNDEFINED = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_DELIMITATION = 0xfffee00d;
const SEQUENCE_DELIMITATION = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_BE = '1.2.840.10008.1.2.2';
/** Deflated data sets (PS3.5 A.5) are not walked: their bytes are a deflate stream. */
const DEFLATED = new Set(['1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.4.95']);

const hex4 = (n: number): string => n.toString(16).toUpperCase().padStart(4, '0');
export const tagText = (tag: number): string => `(${hex4(tag >>> 16)},${hex4(tag & 0xffff)})`;

/** "Pixel Data (7FE0,0010)": the dictionary keyword split into words, then the tag. */
export function elementName(tag: number): string {
  const entry = (dcmjs.data.DicomMetaDictionary as unknown as { dictionary: Record<string, { name?: string } | undefined> }).dictionary[tagText(tag)];
  const words = entry?.name?.replace(/([a-z0-9])([A-Z])/g, '$1 $2').replace(/([A-Z])([A-Z][a-z])/g, '$1 $2');
  return words ? `${words} ${tagText(tag)}` : `element ${tagText(tag)}`;
}

/** What an undefined-length element opened: a sequence of items, an item's data set, or Pixel Data fragments. */
interface Container {
  readonly kind: 'sequence' | 'item' | 'fragments';
  readonly tag: number;
  /** Items of a UN sequence of undefined length are implicit VR little endian (PS3.5 §6.2.2). */
  readonly implicit: boolean;
}

export interface DataSetStructureCheck {
  /** Feeds the next bytes of the data set (in order, from its first byte). */
  write(chunk: Uint8Array): void;
  /** Call after the last byte: the first structural problem found, or undefined when every element is whole. */
  end(): string | undefined;
  /** The declared length of the top-level Pixel Data (7FE0,0010) when it is native (defined length), once seen. */
  nativePixelDataLength(): number | undefined;
}

/**
 * Checks the data set encoded in `transferSyntaxUid`: each element's value is as long as its header says, sequences
 * and items of undefined length are closed, Pixel Data fragments are items. Values are skipped, not read: memory is
 * a 12-byte header buffer and the nesting depth. Deflated data sets are not checked (always undefined).
 */
export function checkDataSetStructure(transferSyntaxUid: string): DataSetStructureCheck {
  if (DEFLATED.has(transferSyntaxUid)) return { write: () => undefined, end: () => undefined, nativePixelDataLength: () => undefined };
  const bigEndian = transferSyntaxUid === EXPLICIT_BE;
  const stack: Container[] = [];
  const header = new Uint8Array(12);
  let headerFill = 0;
  let headerNeed = 8;
  /** Bytes of the current value still to skip, its element, and its declared length. */
  let skip = 0;
  let valueTag = 0;
  let valueLength = 0;
  let offset = 0;
  let elementOffset = 0;
  let problem: string | undefined;
  let pixelDataLength: number | undefined;

  const u16 = (at: number): number => (bigEndian ? (header[at] << 8) | header[at + 1] : header[at] | (header[at + 1] << 8));
  const u32 = (at: number): number => (bigEndian
    ? ((header[at] << 24) | (header[at + 1] << 16) | (header[at + 2] << 8) | header[at + 3]) >>> 0
    : (header[at] | (header[at + 1] << 8) | (header[at + 2] << 16) | (header[at + 3] << 24)) >>> 0);
  const implicit = (): boolean => transferSyntaxUid === IMPLICIT_LE || (stack.at(-1)?.implicit ?? false);
  const vrAt = (): string => String.fromCharCode(header[4], header[5]);

  function startValue(tag: number, length: number): void {
    if (length === 0) return;
    skip = length;
    valueTag = tag;
    valueLength = length;
  }

  /** The header in `header[0..headerFill)` is complete: act on it. Returns false when more header bytes are needed. */
  function onHeader(): boolean {
    const tag = ((u16(0) << 16) | u16(2)) >>> 0;
    const top = stack.at(-1);
    const isDelimiter = tag === ITEM || tag === ITEM_DELIMITATION || tag === SEQUENCE_DELIMITATION;
    // Items and delimiters have no VR, in every transfer syntax (PS3.5 §7.5).
    if (!isDelimiter && !implicit() && headerNeed === 8) {
      const vr = vrAt();
      if (!SHORT_VRS.has(vr)) {
        headerNeed = 12;
        return false;
      }
    }
    const length = headerNeed === 12 ? u32(8) : isDelimiter || implicit() ? u32(4) : u16(6);
    if (top?.kind === 'sequence' || top?.kind === 'fragments') {
      if (tag === SEQUENCE_DELIMITATION) {
        stack.pop();
      } else if (tag !== ITEM) {
        problem = `${elementName(top.tag)}: expected an Item (FFFE,E000) at byte ${elementOffset}, found ${tagText(tag)}`;
      } else if (length === UNDEFINED && top.kind === 'sequence') {
        stack.push({ kind: 'item', tag: top.tag, implicit: top.implicit });
      } else if (length === UNDEFINED) {
        problem = `${elementName(top.tag)}: a fragment of undefined length at byte ${elementOffset}`;
      } else {
        startValue(top.tag, length);
      }
      return true;
    }
    if (tag === ITEM_DELIMITATION && top?.kind === 'item') {
      stack.pop();
      return true;
    }
    if (isDelimiter) {
      problem = `unexpected ${tag === ITEM ? 'Item' : tag === ITEM_DELIMITATION ? 'Item Delimitation Item' : 'Sequence Delimitation Item'} ${tagText(tag)} at byte ${elementOffset}`;
      return true;
    }
    if (length !== UNDEFINED) {
      if (tag === PIXEL_DATA && stack.length === 0) pixelDataLength = length;
      startValue(tag, length);
      return true;
    }
    const vr = implicit() ? undefined : vrAt();
    if (tag === PIXEL_DATA && (vr === 'OB' || vr === 'OW')) stack.push({ kind: 'fragments', tag, implicit: false });
    else if (vr === undefined || vr === 'SQ' || vr === 'UN') stack.push({ kind: 'sequence', tag, implicit: vr !== 'SQ' && (vr === 'UN' || implicit()) });
    else problem = `${elementName(tag)} has an undefined length with VR ${vr}`;
    return true;
  }

  return {
    nativePixelDataLength: () => pixelDataLength,
    write(chunk) {
      let i = 0;
      while (i < chunk.length && problem === undefined) {
        if (skip > 0) {
          const n = Math.min(skip, chunk.length - i);
          skip -= n;
          i += n;
          offset += n;
          continue;
        }
        if (headerFill === 0) elementOffset = offset;
        const n = Math.min(headerNeed - headerFill, chunk.length - i);
        header.set(chunk.subarray(i, i + n), headerFill);
        headerFill += n;
        i += n;
        offset += n;
        if (headerFill < headerNeed) continue;
        if (onHeader()) {
          headerFill = 0;
          headerNeed = 8;
        }
      }
    },
    end() {
      if (problem !== undefined) return problem;
      if (skip > 0) return `${elementName(valueTag)} declares ${valueLength} bytes, ${valueLength - skip} present`;
      if (headerFill > 0) return `the data set ends inside the header of an element at byte ${elementOffset} (${headerFill} of ${headerNeed} bytes)`;
      const open = stack.at(-1);
      if (open) {
        const what = open.kind === 'item' ? 'an Item of undefined length with no Item Delimitation Item' : `no Sequence Delimitation Item`;
        return `${elementName(open.tag)} ends without its closing delimiter: ${what}`;
      }
      return undefined;
    },
  };
}
