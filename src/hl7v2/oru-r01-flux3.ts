// CI-SIS Téléradiologie flux 3 (ORU^R01, MSH-21 1.0^CISIS_TLR_HL7_V2): the platform's answer to an order — ORC-1 OK with
// the imaging protocol (OBX PROTOCOLE_IMAGERIE, ED base64) when the requis accepts, OC with its reason (ORC-16) when it refuses.
import type { Identifier, Patient } from '@medplum/fhirtypes';
import { hl7Timestamp } from './acknowledgment.js';
import type { Hl7Identity, Hl7Partner } from './hl7-partner.js';
import { writePid } from './pid-segment.js';

export const TLR_PROFILE = '1.0^CISIS_TLR_HL7_V2';

export interface Professional {
  /** RPPS / IDNPS (OID 1.2.250.1.71.4.2.1). */
  readonly id?: string;
  readonly family?: string;
  readonly given?: string;
}

export interface OrderResponse {
  readonly accepted: boolean;
  /** The imaging protocol (accepted). */
  readonly protocol?: string;
  /** Why the request is refused (refused). */
  readonly reason?: string;
  readonly patient: Patient;
  /** The placer order number of flux 1 (ORC-2 / OBR-2). */
  readonly placer: Identifier;
  /** The téléradiologue who answered (ORC-12, OBR-16). */
  readonly responder?: Professional;
  readonly controlId: string;
  readonly now: Date;
}

const DELIMS = { field: '|', component: '^', repetition: '~', escape: '\\', subcomponent: '&' };

/** §2.7 escaping of free text in our fields. */
export function esc(text: string): string {
  return text.replace(/\\/g, '\\E\\').replace(/\|/g, '\\F\\').replace(/\^/g, '\\S\\').replace(/&/g, '\\T\\').replace(/~/g, '\\R\\')
    .replace(/\r\n|\r|\n/g, '\\.br\\');
}

/** EI (placer order number): value^namespace^OID^ISO. */
export function placerEi(placer: Identifier): string {
  const oid = placer.system?.startsWith('urn:oid:') ? placer.system.slice(8) : '';
  return `${esc(placer.value ?? '')}^^${oid}^${oid ? 'ISO' : ''}`.replace(/\^+$/, '');
}

/** XCN of a professional with an RPPS/IDNPS: id^family^given^^^^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS. */
export function professionalXcn(p: Professional | undefined): string {
  if (!p?.id) return '';
  return `${esc(p.id)}^${esc(p.family ?? '')}^${esc(p.given ?? '')}^^^^^^ASIP-SANTE-PS&1.2.250.1.71.4.2.1&ISO^D^^^IDNPS`;
}

/** MSH of a message from us to `partner` (MSH-18 its character set, MSH-21 the profile). */
export function writeMsh(identity: Hl7Identity, partner: Hl7Partner, type: string, controlId: string, now: Date, profile: string, version = '2.5.1'): string {
  return ['MSH', `${DELIMS.component}${DELIMS.repetition}${DELIMS.escape}${DELIMS.subcomponent}`, identity.application, identity.facility,
    partner.application, partner.facility, hl7Timestamp(now), '', type, controlId, 'P', version, '', '', '', '', 'FRA', partner.charset, '', '', profile].join('|');
}

/** The flux 3 message text (segments separated by CR). */
export function buildOrderResponse(r: OrderResponse, identity: Hl7Identity, partner: Hl7Partner): string {
  const placer = placerEi(r.placer);
  const xcn = professionalXcn(r.responder);
  const orc = ['ORC', r.accepted ? 'OK' : 'OC', placer, '', '', '', '', '', '', '', '', '', xcn, '', '', '',
    r.accepted ? '' : `^${esc(r.reason ?? '')}`, 'PLATEFORME_TLR^^TLR_TYPE_ORGANISATION', '', '', '', esc(identity.facility)].join('|');
  const obr = ['OBR', '', placer, '', 'REPONSE_DEMANDE^Réponse à une demande d\'examen d\'imagerie^TLR_OBR_PROCEDURE',
    '', '', '', '', '', '', '', '', '', '', '', '', xcn].join('|');
  const obx = r.accepted
    ? [`OBX|1|ED|PROTOCOLE_IMAGERIE^Protocole d'imagerie médicale^TLR_OBSERVATION||^TEXT^^Base64^${Buffer.from(r.protocol ?? '', 'utf8').toString('base64')}||||||F`]
    : [];
  return [
    writeMsh(identity, partner, 'ORU^R01^ORU_R01', r.controlId, r.now, TLR_PROFILE),
    writePid(r.patient, esc),
    // PV1 is required by the volet's common constraints (the ANS flux 3 example lacks it): N = not applicable.
    'PV1||N',
    orc.replace(/\|+$/, ''),
    obr.replace(/\|+$/, ''),
    ...obx,
  ].join('\r');
}
