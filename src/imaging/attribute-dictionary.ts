// DICOM PS3.6 §6 data dictionary lookups (keyword ⇄ tag, VR), as PS3.18 8.3.4.1 attribute IDs name attributes.
import dcmjs from 'dcmjs';

interface DictionaryEntry { tag: string; vr: string; name: string }
interface Dictionary {
  nameMap: Record<string, DictionaryEntry | undefined>;
  dictionary: Record<string, DictionaryEntry | undefined>;
}

/** dcmjs ships the PS3.6 dictionary (keyed by keyword, and by `(gggg,eeee)`); its typings leave it out. */
const dict = dcmjs.data.DicomMetaDictionary as unknown as Dictionary;

export interface AttributeDefinition {
  /** 8 upper-case hex digits. */
  readonly tag: string;
  readonly vr: string;
  readonly keyword?: string;
}

/** Private tags and unknown public ones have no entry: their VR is UN (PS3.5 6.2.2). */
function byTag(tag: string): AttributeDefinition {
  const e = dict.dictionary[`(${tag.slice(0, 4)},${tag.slice(4)})`];
  const vr = e?.vr && /^[A-Z]{2}$/.test(e.vr) ? e.vr : e?.vr?.slice(0, 2) ?? 'UN';
  return { tag, vr, ...(e ? { keyword: e.name } : {}) };
}

/**
 * An attribute named by its keyword (`PatientName`) or its tag (`00100010`, case-insensitive), or undefined when
 * the name is neither.
 */
export function attributeOf(id: string): AttributeDefinition | undefined {
  if (/^[0-9A-Fa-f]{8}$/.test(id)) return byTag(id.toUpperCase());
  const e = dict.nameMap[id];
  if (!e || !/^\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\)$/.test(e.tag)) return undefined;
  return byTag(`${e.tag.slice(1, 5)}${e.tag.slice(6, 10)}`.toUpperCase());
}
