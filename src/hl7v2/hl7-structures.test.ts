// Gazelle-style checks of message structures: every ANS example parses, its known defects (MANIFEST.md) are reported
// exactly, and every message the platform builds follows its structure.
import { existsSync, readFileSync } from 'node:fs';
import { Hl7Message } from '@medplum/core';
import type { Patient } from '@medplum/fhirtypes';
import { expect } from 'chai';
import { buildAck, headerOf } from './acknowledgment.js';
import type { Hl7Partner } from './hl7-partner.js';
import { checkStructure } from './hl7-structures.js';
import { buildReportMessage } from './mdm-t02.js';
import { buildOrderResponse } from './oru-r01-flux3.js';

const SHARED = new URL('../../../shared/fixtures/', import.meta.url);
const text = (path: string) => readFileSync(new URL(path, SHARED), 'utf8').replace(/\r?\n/g, '\r').trim();
const summary = (m: Hl7Message) => checkStructure(m).map((i) => `${i.severity === 'warning' ? 'W' : 'E'}${i.details?.coding?.[0].code}@${i.expression?.[0] ?? ''}`);

/** The ANS examples and what is wrong with each (MANIFEST.md "Known defects"; [] = conformant). */
const ANS: [string, string[]][] = [
  ['ansforge-teleradiologie-hl7v2/flux1_ORM_O01_NW_transmission_demande.hl7', []],
  ['ansforge-teleradiologie-hl7v2/flux2_ORM_O01_CA_annulation_demande.hl7', []],
  // ED payload "Pendggfbubzbdy12gggvt" is not base64 (21 characters); no PV1 (optional in ORU_R01, required by the volet's common constraints).
  ['ansforge-teleradiologie-hl7v2/flux3_ORU_R01_OK_reponse_demande.hl7', ['E102@OBX[1]-5']],
  // URL_PARTIELLE_VIEWER "Penfhghdegge": base64 alphabet, but not UTF-8 text once decoded.
  ['ansforge-teleradiologie-hl7v2/flux4_OMI_O23_SR_complement_post_acte.hl7', ['E102@OBX[1]-5']],
  ['ansforge-teleradiologie-hl7v2/ACK_AA_positive.hl7', []],
  ['ansforge-teleradiologie-hl7v2/ACK_AE_unsupported_version.hl7', []],
  ['ansforge-hl7v2-exemples/mdm-cr-imagerie-v2.1/MDM_T02_CR_Radio_INIT_N1_placeholder.er7', []],
  ['ansforge-hl7v2-exemples/mdm-cr-imagerie-v2.1/MDM_T02_CR_Radio_INIT_N1_base64.er7', []],
  ['ansforge-hl7v2-exemples/mdm-cr-imagerie-v2.1/MDM_T10_CR_Radio_RPLC_N1.er7', []],
  // Its CDA in OBX-5 is 328,435 base64 characters: not a multiple of 4 (cut).
  ['ansforge-hl7v2-exemples/mdm-cr-imagerie-v2.1/MDM_T04_CR_Radio_DEL_N1.er7', ['E102@OBX[1]-5']],
  ['ansforge-hl7v2-exemples/mdm-cr-imagerie-v2.1/ACK_T10.er7', []],
  ['ansforge-hl7v2-exemples/mdm-cr-imagerie-v2.1/ACK_T04.er7', []],
  // The old v1.2 profile: placeholder "base64" text, and MSH-21 1.2^CISIS_CDA_HL7_V1.
  ['ansforge-hl7v2-exemples/oru-trans-cda-v1.2/MDM_T02_v1.2.hl7', ['E102@OBX[1]-5', 'W101@MSH-21']],
  ['ansforge-hl7v2-exemples/oru-trans-cda-v1.2/ORU_R01_CR_Bio_v1.2.hl7', ['E102@OBX[1]-5']],
  ...['ConsentementConsultation_NonOppositionAlimentation', 'NonConsentementConsultation_NonOppositionAlimentation', 'NonConsentementConsultation_OppositionAlimentation',
    'NonRecueillieConsentementConsultation_NonOppositionAlimentation', 'NonRecueillieConsentementConsultation_NonRecueillieOppositionAlimentation']
    .map((n): [string, string[]] => [`ansforge-hl7v2-exemples/pam-fr-consentement-dmp/ADT_A01_${n}.er7`, []]),
  ['ansforge-hl7v2-exemples/sgl/ADT_A01_admission.er7', []],
  ['ansforge-hl7v2-exemples/sgl/ADT_A03_sortie.er7', []],
  // DRIM-M's OMI: no MSH-21.
  ['ansforge-drim-m-data/OMI_O23-ImagingOrder.hl7', ['W101@MSH-21']],
];

const PARTNER: Hl7Partner = { name: 'p', application: 'RIS', facility: 'CHU', charset: 'UNICODE UTF-8', ackMode: 'original', reportMessage: 'MDM', organizations: [] };
const ME = { application: 'TELEO', facility: 'TELEO' };
const PATIENT: Patient = { resourceType: 'Patient', identifier: [{ system: 'urn:oid:1.2.250.1.213.1.4.8', value: '279035121518989' }], name: [{ family: 'X', given: ['Y'] }] };

describe('HL7 v2 message structures (segment order, required fields, base64, MSH-21)', () => {
  for (const [path, expected] of ANS) {
    (existsSync(new URL(path, SHARED)) ? it : it.skip)(`ANS ${path.split('/').pop()}: ${expected.length ? expected.join(', ') : 'conformant'}`, () => {
      expect(summary(Hl7Message.parse(text(path)))).to.deep.equal(expected);
    });
  }

  it('names an unexpected segment (100, with what was expected) and a missing required one (101 at its name)', () => {
    const m = Hl7Message.parse('MSH|^~\\&|A|B|C|D|20260101||ADT^A40^ADT_A39|1|P|2.5\rEVN||20260101\rPID|||1^^^X&1.2.3&ISO^PI||N^P');
    expect(checkStructure(m).map((i) => [i.details?.coding?.[0].code, i.expression?.[0], i.details?.text])).to.deep.equal([
      ['101', 'MRG', 'Required segment MRG missing in ADT_A39 (after MSH EVN PID)']]);
    const bad = Hl7Message.parse('MSH|^~\\&|A|B|C|D|20260101||ORM^O01^ORM_O01|1|P|2.5.1|||||||||1.0^CISIS_TLR_HL7_V2\rPID|||1^^^X&1.2.3&ISO^PI||N^P\rOBR||1||X\rORC|NW');
    expect(checkStructure(bad)[0]).to.deep.include({ expression: ['OBR[1]'] });
    expect(checkStructure(bad)[0].details?.text).to.match(/Segment OBR is not expected here in ORM_O01 \(after MSH PID; expected .*ORC\)/);
  });

  it('finds every message the platform builds conformant: flux 3 OK/OC, MDM T02/T10/T04, ORU CDA, ACK', () => {
    const now = new Date('2026-11-23T10:00:00Z');
    const built = [
      buildOrderResponse({ accepted: true, protocol: 'IRM', patient: PATIENT, placer: { system: 'urn:oid:1.2.3', value: 'P1' }, controlId: 'C1', now }, ME, PARTNER),
      buildOrderResponse({ accepted: false, reason: 'non', patient: PATIENT, placer: { system: 'urn:oid:1.2.3', value: 'P1' }, controlId: 'C2', now }, ME, PARTNER),
      ...(['T02', 'T10', 'T04'] as const).flatMap((event) => (['MDM', 'ORU'] as const).map((structure) => buildReportMessage({
        event, structure, controlId: 'C3', now, patient: PATIENT, author: { id: '801234564895', family: 'T' },
        document: { id: '2.25.9', ...(event === 'T02' ? {} : { parent: '2.25.8' }), code: { code: '18748-4', display: 'CR' }, cda: '<ClinicalDocument/>', authoredAt: now },
      }, ME, PARTNER))),
      buildAck('AE', headerOf(Hl7Message.parse(text('ansforge-teleradiologie-hl7v2/flux1_ORM_O01_NW_transmission_demande.hl7')), 'UNICODE UTF-8'), ME,
        [{ severity: 'error', code: 'required', details: { text: 'x' }, expression: ['PID-3'] }]),
    ];
    for (const message of built) expect(summary(Hl7Message.parse(message)), message.split('\r')[0]).to.deep.equal([]);
  });
});
