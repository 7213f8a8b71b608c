// The CI-SIS CDA-in-HL7v2 messages as built (segment order per structure, TXA, MetaDMPMSS flags, escaping), compared
// with the ANS examples' segment sequence.
import { existsSync, readFileSync } from 'node:fs';
import { Hl7Message } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { expect } from 'chai';
import type { Hl7Partner } from './hl7-partner.js';
import { buildReportMessage, type ReportMessage } from './mdm-t02.js';

const ANS_T02 = new URL('../../../shared/fixtures/ansforge-hl7v2-exemples/mdm-cr-imagerie-v2.1/MDM_T02_CR_Radio_INIT_N1_placeholder.er7', import.meta.url);
const DPI: Hl7Partner = { name: 'dpi', application: 'DPI', facility: 'CHU', charset: '8859/15', ackMode: 'original', reportMessage: 'MDM', organizations: [] };
const PATIENT: Patient = { resourceType: 'Patient', identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '279035121518989' }, { system: 'urn:oid:1.2.250.1.999.1', value: 'IPP|1' }],
  name: [{ family: 'DUPONT^MARTIN', given: ['Jean'] }], birthDate: '1979-03-28', gender: 'male' };
const base = (event: ReportMessage['event'], structure: ReportMessage['structure']): ReportMessage => ({
  event, structure, controlId: 'C1', now: new Date('2026-11-23T10:00:00Z'), patient: PATIENT,
  document: { id: '2.25.1', ...(event === 'T02' ? {} : { parent: '2.25.0' }), code: { code: '18748-4', display: "CR d'imagerie médicale" }, cda: '<ClinicalDocument/>', authoredAt: new Date('2026-11-23T09:00:00Z') },
  author: { id: '801234564895', family: 'Thomas', given: 'Eric' }, recipient: { id: '801234567897', family: 'Hoda' },
});
const segs = (text: string) => text.split('\r').map((s) => s.slice(0, 3));

describe('CDA in HL7 v2 messages (MDM^T02/T10/T04, ORU^R01)', () => {
  it('lays out MDM^T02 as the ANS example does: MSH EVN PID PV1 ORC OBR TXA OBX PRT PRT then ten MetaDMPMSS OBX', () => {
    const text = buildReportMessage(base('T02', 'MDM'), { application: 'TELEO', facility: 'TELEO' }, DPI);
    expect(segs(text)).to.deep.equal(['MSH', 'EVN', 'PID', 'PV1', 'ORC', 'OBR', 'TXA', 'OBX', 'PRT', 'PRT', ...Array(10).fill('OBX')]);
    if (existsSync(ANS_T02)) {
      const ans = segs(readFileSync(ANS_T02, 'utf8').replace(/\r?\n/g, '\r').trim());
      expect(segs(text).slice(0, 10)).to.deep.equal(ans.slice(0, 10));
    }
    const m = Hl7Message.parse(text);
    expect(m.header.getField(9).toString()).to.equal('MDM^T02^MDM_T02');
    expect(m.header.getField(12).toString()).to.equal('2.6');
    expect(m.header.getField(18).toString()).to.equal('8859/15');
    expect(m.getSegment('PID')?.getField(5).toString()).to.equal('DUPONT\\S\\MARTIN^Jean^^^^^L');
    expect(m.getSegment('PID')?.getField(3).toString()).to.contain('IPP\\F\\1^^^&1.2.250.1.999.1&ISO^PI');
    expect(m.getSegment('TXA')?.getField(12).toString()).to.equal('2.25.1^TELEO');
    expect(m.getSegment('TXA')?.getField(13).toString()).to.equal('');
    expect(Buffer.from(m.getSegment('OBX')?.getField(5).getComponent(5) ?? '', 'base64').toString()).to.equal('<ClinicalDocument/>');
  });

  it('marks a replacement (T10: ORC RO, TXA-13 the replaced document) and a deletion (T04: ORC CA)', () => {
    const t10 = Hl7Message.parse(buildReportMessage(base('T10', 'MDM'), { application: 'TELEO', facility: 'TELEO' }, DPI));
    expect([t10.header.getField(9).toString(), t10.getSegment('ORC')?.getField(1).toString(), t10.getSegment('TXA')?.getField(13).toString()])
      .to.deep.equal(['MDM^T10^MDM_T02', 'RO', '2.25.0^TELEO']);
    const t04 = Hl7Message.parse(buildReportMessage(base('T04', 'MDM'), { application: 'TELEO', facility: 'TELEO' }, DPI));
    expect([t04.header.getField(9).toString(), t04.getSegment('ORC')?.getField(1).toString()]).to.deep.equal(['MDM^T04^MDM_T02', 'CA']);
  });

  it('sends ORU^R01 without EVN and TXA to a partner that takes reports as ORU', () => {
    const text = buildReportMessage(base('T02', 'ORU'), { application: 'TELEO', facility: 'TELEO' }, { ...DPI, reportMessage: 'ORU' });
    expect(segs(text).slice(0, 8)).to.deep.equal(['MSH', 'PID', 'PV1', 'ORC', 'OBR', 'OBX', 'PRT', 'PRT']);
    expect(text.split('\r')[0].split('|')[8]).to.equal('ORU^R01^ORU_R01');
    expect(text.split('\r')[0].split('|')[20]).to.equal('2.1^CISIS_CDA_HL7_V2');
  });
});
