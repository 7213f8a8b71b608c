// DICOM PS3.3 F.3 Basic Directory IOD (the DICOMDIR of a file set) and PS3.10 §8.2 File IDs: the files a file set's
// directory records reference, e.g. on a CD-ROM (PS3.12).
import dcmjs, { type DcmjsDict } from 'dcmjs';

/** One file referenced by a directory record. */
export interface ReferencedFile {
  /** File ID components (PS3.10 §8.2: up to 8 of 1–8 characters from A–Z, 0–9 and _), relative to the DICOMDIR's folder. */
  readonly components: readonly string[];
  /** Directory Record Type (0004,1430): IMAGE, SR DOCUMENT, PRESENTATION… */
  readonly recordType: string;
  /** Referenced SOP Instance UID in File (0004,1511), when the record says. */
  readonly sopInstanceUid?: string;
}

export interface DicomdirContents {
  readonly files: ReferencedFile[];
  /** Referenced File IDs that are not valid PS3.10 §8.2 File IDs (never resolved to a path). */
  readonly invalid: { readonly fileId: string; readonly recordType: string }[];
}

export class DicomdirError extends Error {}

const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';
/** PS3.10 §8.2, relaxed to lower case (some writers use it; file systems may fold case anyway). */
const COMPONENT = /^[A-Za-z0-9_]{1,8}$/;

function text(item: DcmjsDict, tag: string): string | undefined {
  const v = item[tag]?.Value;
  return Array.isArray(v) && typeof v[0] === 'string' ? v[0].trim() : undefined;
}

/** Parses a DICOMDIR (a Part 10 file of SOP class Media Storage Directory Storage) and lists the files it references. */
export function readDicomdir(bytes: Uint8Array): DicomdirContents {
  let file;
  try {
    file = dcmjs.data.DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
  } catch (e) {
    throw new DicomdirError(`unreadable DICOMDIR: ${e instanceof Error ? e.message : String(e)}`);
  }
  const sopClass = text(file.meta, '00020002');
  if (sopClass !== MEDIA_STORAGE_DIRECTORY) throw new DicomdirError(`not a DICOMDIR: Media Storage SOP Class UID is ${sopClass ?? 'absent'}`);
  const records = file.dict['00041220']?.Value;
  const files: ReferencedFile[] = [];
  const invalid: { fileId: string; recordType: string }[] = [];
  const seen = new Set<string>();
  for (const item of Array.isArray(records) ? records : []) {
    if (typeof item !== 'object' || item === null) continue;
    const record = item as DcmjsDict;
    const id = record['00041500']?.Value;
    if (!Array.isArray(id) || id.length === 0) continue; // PATIENT, STUDY, SERIES… records reference no file
    const recordType = text(record, '00041430') ?? '';
    // CS values are split at "\" by the parser; a writer may also have put it inside one value.
    const components = id.flatMap((c) => String(c).split('\\')).map((c) => c.trim());
    const key = components.join('/').toUpperCase();
    if (components.length > 8 || !components.every((c) => COMPONENT.test(c))) {
      invalid.push({ fileId: components.join('\\'), recordType });
      continue;
    }
    if (seen.has(key)) continue;
    seen.add(key);
    const sopInstanceUid = text(record, '00041511');
    files.push({ components, recordType, ...(sopInstanceUid ? { sopInstanceUid } : {}) });
  }
  return { files, invalid };
}
