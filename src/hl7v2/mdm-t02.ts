// CI-SIS "Transmission de documents CDA en HL7v2" v2.1 (MSH-21 2.1^CISIS_CDA_HL7_V2): the report (a CDA document) to a
// DPI as MDM^T02 (initial), MDM^T10 (replacement), MDM^T04 (deletion) — or ORU^R01 per partner — with TXA, PRT,
// OBX-5 ED base64 and the MetaDMPMSS flags. Segments after the ANS examples (MDM_T02_CR_Radio_INIT_N1_*.er7, T10, T04).
import type { Patient } from '@medplum/fhirtypes';
import { hl7Timestamp } from './acknowledgment.js';
import type { Hl7Identity, Hl7Partner } from './hl7-partner.js';
import { esc, professionalXcn, writeMsh, type Professional } from './oru-r01-flux3.js';
import { writePid } from './pid-segment.js';

export const CDA_HL7_PROFILE = '2.1^CISIS_CDA_HL7_V2';
/** The volet's messages are v2.6 (PRT). */
const VERSION = '2.6';

export type ReportEvent = 'T02' | 'T10' | 'T04';

/** MetaDMPMSS flags (OBX CWE Y/N): where the document goes and who may see it. */
export interface ReportFlags {
  readonly masquePs: boolean;
  readonly invisiblePatient: boolean;
  readonly invisibleRepresentants: boolean;
  readonly connexionSecrete: boolean;
  readonly destDmp: boolean;
  readonly destMssantePs: boolean;
  readonly destMssantePatient: boolean;
}

/** Our default: the CR goes to the DMP (CI-SIS téléradiologie: CRs must reach it), visible to all, no MSSanté mail. */
export const DEFAULT_FLAGS: ReportFlags = {
  masquePs: false, invisiblePatient: false, invisibleRepresentants: false, connexionSecrete: false,
  destDmp: true, destMssantePs: false, destMssantePatient: false,
};

export interface ReportMessage {
  readonly event: ReportEvent;
  readonly structure: 'MDM' | 'ORU';
  readonly controlId: string;
  readonly now: Date;
  readonly patient: Patient;
  /** PV1-19 visit number (CX text) when the report belongs to a visit. */
  readonly visit?: string;
  readonly document: {
    /** Unique document number (TXA-12): the CDA id root (an OID). */
    readonly id: string;
    /** The document this one replaces (T10) or deletes (T04): TXA-13. */
    readonly parent?: string;
    readonly code: { code: string; display: string };
    readonly cda: string;
    readonly authoredAt: Date;
  };
  readonly author?: Professional;
  readonly authorOrganization?: { finess?: string; name?: string };
  readonly recipient?: Professional;
  readonly flags?: ReportFlags;
}

const FLAG_ROWS: readonly [keyof ReportFlags | 'modifConf' | 'ackReception' | 'ackLecture', string, string][] = [
  ['masquePs', 'MASQUE_PS', 'Masqué aux professionnels de Santé'],
  ['invisiblePatient', 'INVISIBLE_PATIENT', 'Document Non Visible par le patient'],
  ['invisibleRepresentants', 'INVISIBLE_REP_LEGAUX', 'Non visible par les représentants Légaux du patient'],
  ['connexionSecrete', 'CONNEXION_SECRETE', 'Connexion Secrete'],
  ['modifConf', 'MODIF_CONF_CODE', 'Modification Confidentiality Code'],
  ['destDmp', 'DESTDMP', 'Destinataire DMP'],
  ['destMssantePs', 'DESTMSSANTEPS', 'Destinataire (Professionnel de Santé, organisation ou BAL applicative)'],
  ['destMssantePatient', 'DESTMSSANTEPAT', 'Destinataire Patient'],
  ['ackReception', 'ACK_RECEPTION', 'Accusé de réception'],
  ['ackLecture', 'ACK_LECTURE_MSS', 'Accusé de lecture'],
];

const ORC_CONTROL: Record<ReportEvent, string> = { T02: 'NW', T10: 'RO', T04: 'CA' };

/** The message text (segments separated by CR). */
export function buildReportMessage(m: ReportMessage, identity: Hl7Identity, partner: Hl7Partner): string {
  const type = m.structure === 'MDM' ? `MDM^${m.event}^MDM_T02` : 'ORU^R01^ORU_R01';
  const flags: Record<string, boolean> = { ...(m.flags ?? DEFAULT_FLAGS), modifConf: false, ackReception: false, ackLecture: false };
  const docCode = `${m.document.code.code}^${esc(m.document.code.display)}^LN`;
  const org = m.authorOrganization?.finess
    ? `${esc(m.authorOrganization.name ?? '')}^^^^^ASIP-SANTE-ST&1.2.250.1.71.4.2.2&ISO^FINEG^^^${m.authorOrganization.finess}` : esc(m.authorOrganization?.name ?? '');
  const txa = ['TXA', '1', m.document.code.code, 'TEXT', hl7Timestamp(m.document.authoredAt), '', '', '', '', '', '', '',
    `${m.document.id}^${esc(identity.facility)}`, m.document.parent ? `${m.document.parent}^${esc(identity.facility)}` : '', '', '', '',
    'AU', '', '', '', '', m.author?.id ?? ''].join('|');
  const segments = [
    writeMsh(identity, partner, type, m.controlId, m.now, CDA_HL7_PROFILE, VERSION),
    ...(m.structure === 'MDM' ? [`EVN||${hl7Timestamp(m.now)}`] : []),
    writePid(m.patient, esc),
    m.visit ? `PV1|1|N|||||||||||||||||${m.visit}` : 'PV1|1|N',
    `ORC|${ORC_CONTROL[m.event]}|`,
    `OBR|1|||${docCode}|`,
    ...(m.structure === 'MDM' ? [txa.replace(/\|+$/, '')] : []),
    `OBX|1|ED|${docCode}||^text^XML^Base64^${Buffer.from(m.document.cda, 'utf8').toString('base64')}||||||F|`,
    ...(m.author?.id ? [`PRT||UC||SB^^participation|${professionalXcn(m.author)}|||${org}`] : []),
    ...(m.recipient?.id ? [`PRT||UC||RCT^^participation|${professionalXcn(m.recipient)}`] : []),
    ...FLAG_ROWS.map(([key, code, display], i) =>
      `OBX|${i + 2}|CWE|${code}^${display}^MetaDMPMSS||${flags[key] ? 'Y' : 'N'}^^expandedYes-NoIndicator||||||F|`),
  ];
  return segments.join('\r');
}
