// PS3.3 F.3 Basic Directory (DICOMDIR): the files its records reference, and File IDs that must never become paths.
import { expect } from 'chai';
import dcmjs from 'dcmjs';
import { DicomdirError, readDicomdir } from './dicomdir.js';

function dicomdir(records: Record<string, unknown>[], sopClass = '1.2.840.10008.1.3.10'): Uint8Array {
  const file = new dcmjs.data.DicomDict(dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer, MediaStorageSOPClassUID: sopClass,
    MediaStorageSOPInstanceUID: '1.2.3', TransferSyntaxUID: '1.2.840.10008.1.2.1', ImplementationClassUID: '2.25.1',
  }));
  file.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({ FileSetID: 'CD', DirectoryRecordSequence: records });
  return new Uint8Array(file.write());
}

describe('DICOMDIR referenced files (PS3.3 F.3, PS3.10 §8.2 File IDs)', () => {
  it('lists the files of IMAGE and other records once each, with their SOP Instance UIDs; PATIENT/STUDY records reference none', () => {
    const { files, invalid } = readDicomdir(dicomdir([
      { DirectoryRecordType: 'PATIENT', PatientID: 'P1' },
      { DirectoryRecordType: 'IMAGE', ReferencedFileID: ['DICOM', 'ST1', 'IM1'], ReferencedSOPInstanceUIDInFile: '1.2.3.4' },
      { DirectoryRecordType: 'SR DOCUMENT', ReferencedFileID: ['DICOM', 'ST1', 'SR1'] },
      { DirectoryRecordType: 'IMAGE', ReferencedFileID: ['dicom', 'st1', 'im1'] },
    ]));
    expect(invalid).to.deep.equal([]);
    expect(files).to.deep.equal([
      { components: ['DICOM', 'ST1', 'IM1'], recordType: 'IMAGE', sopInstanceUid: '1.2.3.4' },
      { components: ['DICOM', 'ST1', 'SR1'], recordType: 'SR DOCUMENT' },
    ]);
  });

  it('sets aside File IDs that climb out of the file set or are not PS3.10 components, instead of resolving them', () => {
    const { files, invalid } = readDicomdir(dicomdir([
      { DirectoryRecordType: 'IMAGE', ReferencedFileID: ['..', '..', 'ETC', 'PASSWD'] },
      { DirectoryRecordType: 'IMAGE', ReferencedFileID: ['/ETC', 'PASSWD'] },
      { DirectoryRecordType: 'IMAGE', ReferencedFileID: ['TOOLONGNAME'] },
      { DirectoryRecordType: 'IMAGE', ReferencedFileID: ['OK'] },
    ]));
    expect(files.map((f) => f.components)).to.deep.equal([['OK']]);
    expect(invalid.map((i) => i.fileId)).to.deep.equal(['..\\..\\ETC\\PASSWD', '/ETC\\PASSWD', 'TOOLONGNAME']);
  });

  it('refuses a file that is not a DICOMDIR, and one that cannot be parsed', () => {
    expect(() => readDicomdir(dicomdir([], '1.2.840.10008.5.1.4.1.1.7'))).to.throw(DicomdirError, 'not a DICOMDIR');
    expect(() => readDicomdir(new Uint8Array(10))).to.throw(DicomdirError);
  });
});
