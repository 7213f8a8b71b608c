// Test helper: small DICOM images (PS3.3 C.7.6.3 Image Pixel Module variants) written with dcmjs as Part 10 files,
// their pixels a deterministic pattern, for the renderer's tests against dcmtk (dcmj2pnm) and for DICOMweb tests.
import { writeFile } from 'node:fs/promises';
import dcmjs from 'dcmjs';

export interface TestImage {
  readonly rows: number;
  readonly columns: number;
  readonly frames?: number;
  readonly samplesPerPixel?: 1 | 3;
  readonly photometric?: string;
  readonly bitsAllocated?: 8 | 16;
  readonly bitsStored?: number;
  readonly pixelRepresentation?: 0 | 1;
  readonly planarConfiguration?: 0 | 1;
  readonly studyInstanceUid?: string;
  readonly seriesInstanceUid?: string;
  readonly sopInstanceUid?: string;
  readonly instanceNumber?: number;
  readonly seriesNumber?: number;
  readonly extra?: Record<string, unknown>;
  /** 'smooth': a gentle gradient without wrap-around edges (for lossy codecs). Default: a wrapping gradient. */
  readonly pattern?: 'smooth';
}

/** Sample value of frame f, pixel (x, y), sample s: a gradient that differs per frame and per sample. */
export function patternValue(img: TestImage, f: number, x: number, y: number, s: number): number {
  const bits = img.bitsStored ?? img.bitsAllocated ?? 8;
  const range = 2 ** bits;
  if (img.pattern === 'smooth') return Math.round(((x / img.columns) * 0.4 + (y / img.rows) * 0.3 + s * 0.1 + f * 0.05) * (range - 1)) - (img.pixelRepresentation === 1 ? range / 2 : 0);
  const v = ((x * 7 + y * 13 + f * 61 + s * 97) * Math.max(1, Math.floor(range / 256))) % range;
  return img.pixelRepresentation === 1 ? v - range / 2 : v;
}

function pixelBytes(img: TestImage): ArrayBuffer {
  const spp = img.samplesPerPixel ?? 1;
  const bytes = (img.bitsAllocated ?? 8) / 8;
  const frames = img.frames ?? 1;
  const n = img.rows * img.columns;
  const out = Buffer.alloc(n * spp * bytes * frames);
  let o = 0;
  for (let f = 0; f < frames; f++) {
    const write = (v: number) => {
      if (bytes === 1) out.writeUInt8(v & 0xff, o); else out.writeUInt16LE(v & 0xffff, o);
      o += bytes;
    };
    if ((img.planarConfiguration ?? 0) === 1) {
      for (let s = 0; s < spp; s++) for (let p = 0; p < n; p++) write(patternValue(img, f, p % img.columns, Math.floor(p / img.columns), s));
    } else {
      for (let p = 0; p < n; p++) for (let s = 0; s < spp; s++) write(patternValue(img, f, p % img.columns, Math.floor(p / img.columns), s));
    }
  }
  return out.buffer.slice(out.byteOffset, out.byteOffset + out.byteLength) as ArrayBuffer;
}

/** Writes the image as a Secondary Capture (multi-frame when frames > 1) in explicit VR little endian. */
export async function writeTestImage(path: string, img: TestImage): Promise<{ sopInstanceUid: string; studyInstanceUid: string; seriesInstanceUid: string }> {
  const uid = () => dcmjs.data.DicomMetaDictionary.uid();
  const sopInstanceUid = img.sopInstanceUid ?? uid();
  const studyInstanceUid = img.studyInstanceUid ?? uid();
  const seriesInstanceUid = img.seriesInstanceUid ?? uid();
  const spp = img.samplesPerPixel ?? 1;
  const bitsAllocated = img.bitsAllocated ?? 8;
  const bitsStored = img.bitsStored ?? bitsAllocated;
  const sopClassUid = (img.frames ?? 1) > 1 ? '1.2.840.10008.5.1.4.1.1.7.3' : '1.2.840.10008.5.1.4.1.1.7';
  const dataset = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    SpecificCharacterSet: 'ISO_IR 192', SOPClassUID: sopClassUid, SOPInstanceUID: sopInstanceUid,
    StudyInstanceUID: studyInstanceUid, SeriesInstanceUID: seriesInstanceUid, PatientName: 'Test^Rendu', PatientID: 'IPP-R',
    Modality: 'OT', ConversionType: 'WSD', StudyDate: '20250102', SeriesNumber: String(img.seriesNumber ?? 1),
    InstanceNumber: String(img.instanceNumber ?? 1), SamplesPerPixel: spp,
    PhotometricInterpretation: img.photometric ?? (spp === 3 ? 'RGB' : 'MONOCHROME2'),
    ...(spp === 3 ? { PlanarConfiguration: img.planarConfiguration ?? 0 } : {}),
    ...((img.frames ?? 1) > 1 ? { NumberOfFrames: String(img.frames) } : {}),
    Rows: img.rows, Columns: img.columns, BitsAllocated: bitsAllocated, BitsStored: bitsStored, HighBit: bitsStored - 1,
    PixelRepresentation: img.pixelRepresentation ?? 0, ...img.extra,
  });
  dataset['7FE00010'] = { vr: bitsAllocated === 8 ? 'OB' : 'OW', Value: [pixelBytes(img)] };
  const file = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer, MediaStorageSOPClassUID: sopClassUid,
    MediaStorageSOPInstanceUID: sopInstanceUid, TransferSyntaxUID: '1.2.840.10008.1.2.1', ImplementationClassUID: '2.25.1',
  }));
  file.dict = dataset;
  await writeFile(path, Buffer.from(file.write()));
  return { sopInstanceUid, studyInstanceUid, seriesInstanceUid };
}
