// Types for the part of dcmjs (DICOM PS3.5/PS3.10 parsing and writing, untyped upstream) that the platform uses.
declare module 'dcmjs' {
  /** One element as dcmjs reads it: DICOM JSON-like (`Value`), plus the undecoded values in `_rawValue`. */
  export interface DcmjsElement {
    vr?: string;
    Value?: unknown[] | number;
    _rawValue?: unknown;
  }
  export type DcmjsDict = Record<string, DcmjsElement>;

  export interface ReadOptions {
    ignoreErrors?: boolean;
    /** Stops at this tag (8 hex digits, upper case); its value is read only with `includeUntilTagValue`. */
    untilTag?: string | null;
    includeUntilTagValue?: boolean;
    noCopy?: boolean;
    forceStoreRaw?: boolean;
  }

  export class DicomDict {
    constructor(meta: DcmjsDict);
    meta: DcmjsDict;
    dict: DcmjsDict;
    /** Preamble, `DICM`, the meta header and the data set in the meta header's transfer syntax. */
    write(options?: Record<string, unknown>): ArrayBuffer;
  }

  export const data: {
    DicomDict: typeof DicomDict;
    DicomMessage: {
      readFile(buffer: ArrayBuffer, options?: ReadOptions): DicomDict;
    };
    DicomMetaDictionary: {
      naturalizeDataset(dict: DcmjsDict): Record<string, unknown>;
      denaturalizeDataset(dataset: Record<string, unknown>): DcmjsDict;
      uid(): string;
    };
  };

  const dcmjs: { data: typeof data };
  export default dcmjs;
}
