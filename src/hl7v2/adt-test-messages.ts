// Test fixture (not shipped): IHE PAM-FR ADT messages built from parts, the memory platform's partner, and delivery.
import { Hl7Message } from '@medplum/core';
import type { OperationOutcomeIssue, Resource } from '@medplum/fhirtypes';
import { OperationOutcomeError } from '../kernel/errors.js';
import type { AuditContext } from '../workflow/audit.js';
import { SEED, type Platform } from '../workflow/teleexpertise/test-directory.js';
import { TELEO_ROLE_SYSTEM } from '../workflow/teleexpertise/dossier-roles.js';
import { ADT_ROUTES } from './adt-routes.js';
import type { Hl7Partner } from './hl7-partner.js';
import type { InboundResult } from './hl7-route.js';

export const GAM: Hl7Partner = {
  name: 'gam-chu', application: 'GAM', facility: 'CHU-X', charset: 'UNICODE UTF-8', ackMode: 'original', reportMessage: 'MDM',
  organizations: ['Organization/chu'],
};
export const GAM_CTX: AuditContext = {
  principal: { sub: `hl7:${GAM.name}`, fhirUser: 'Device/hl7v2-gam-chu', iss: 'hl7v2', scopes: ['system/*.*'] }, via: 'hl7v2',
};
/** The CHU's bureau des entrées as a service (no practitioner): the role the GAM acts in. */
export const BE_SERVICE = 'PractitionerRole/be-service-chu';

export async function addAdmissionsService(p: Platform): Promise<void> {
  await p.svc.update(SEED, {
    resourceType: 'PractitionerRole', id: 'be-service-chu', active: true, organization: { reference: 'Organization/chu' },
    code: [{ coding: [{ system: TELEO_ROLE_SYSTEM, code: 'bureau-entrees' }] }],
  });
}

export const IPP = '000003^^^CHU-X&000897406&N^PI';
export const INS = '279035121518989^^^ASIP-SANTE-INS-NIR&1.2.250.1.213.1.4.10&ISO^INS';
export const VISIT = '000897406^^^CHU-X&000897406&M^VN';
export const IPP_SYSTEM = 'urn:teleo:hd:CHU-X';
export const INS_TEST_SYSTEM = 'urn:oid:1.2.250.1.213.1.4.10';

export interface Parts {
  pid3?: string; pid5?: string; pid7?: string; pid32?: string; zfd5?: string;
  pv1?: { cls?: string; visit?: string; admit?: string } | null; zbe?: string | null; mrg?: string | null; event?: string;
}

/** A segment from its non-empty fields (1-based). */
export function fields(name: string, values: Record<number, string | undefined>): string {
  const last = Math.max(...Object.keys(values).map(Number));
  return [name, ...Array.from({ length: last }, (_, i) => values[i + 1] ?? '')].join('|');
}

/** An ADT^<trigger> message (CR-separated) whose parts default to the ANS PAM-FR example's patient and visit. */
export function adt(trigger: string, parts: Parts = {}): string {
  const pid3 = parts.pid3 ?? `${IPP}~${INS}`;
  const segs = [
    `MSH|^~\\&|GAM|CHU-X|TELEO|TELEO|20240306111154||ADT^${trigger}^ADT_A01|${trigger}-${Math.random().toString(36).slice(2, 8)}|P|2.5^FRA^2.11|||||FRA|UNICODE UTF-8`,
    `EVN||20240306111154||||${parts.event ?? '20240306110000'}`,
    fields('PID', {
      1: '1', 3: pid3, 5: parts.pid5 ?? 'PAT-TROIS^DOMINIQUE^DOMINIQUE^^^^L', 7: parts.pid7 ?? '19790328', 8: 'F',
      11: '28 Av de Breteuil^^PARIS^^75007^FRA^H~^^^^^^BDL^^63220', 32: parts.pid32 ?? 'VALI',
    }),
    ...(parts.mrg === null || parts.mrg === undefined ? [] : [`MRG|${parts.mrg}`]),
    ...(parts.pv1 === null ? [] : [fields('PV1', {
      1: '1', 2: parts.pv1?.cls ?? 'O', 19: parts.pv1?.visit ?? VISIT, ...(parts.pv1?.admit ? { 44: parts.pv1.admit } : {}),
    })]),
    ...(parts.zbe === null ? [] : [`ZBE|${parts.zbe ?? '312^CHU-X^000897406|20240306110000||INSERT|N'}`]),
    `ZFD|||Y|N|${parts.zfd5 ?? 'INSI'}|20211201`,
  ];
  return segs.join('\r');
}

export function deliverAdt(p: Platform, text: string, partner: Hl7Partner = GAM, receivedAt = new Date('2024-03-06T10:12:00Z')): Promise<InboundResult> {
  const message = Hl7Message.parse(text.replace(/\r\n|\n/g, '\r'));
  const type = `${message.header.getField(9).getComponent(1)}^${message.header.getField(9).getComponent(2)}`;
  const route = ADT_ROUTES.find((r) => r.messageType === type);
  if (!route) throw new Error(`no ADT route for ${type}`);
  return route.handle({ svc: p.svc, ctx: GAM_CTX, message, partner, receivedAt, baseUrl: 'http://localhost/fhir' });
}

/** The HL7 issue (0357 code, location) of a refused delivery; fails when it was applied. */
export async function refusal(p: Promise<unknown>): Promise<{ code?: string; location?: string; text?: string; issue: OperationOutcomeIssue }> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof OperationOutcomeError)) throw e;
    const issue = e.outcome.issue?.[0] as OperationOutcomeIssue;
    return { code: issue.details?.coding?.[0]?.code, location: issue.expression?.[0], text: issue.details?.text, issue };
  }
  throw new Error('expected the message to be refused');
}

export async function all<T extends Resource>(p: Platform, type: T['resourceType'], query: Record<string, string[]> = {}): Promise<T[]> {
  return (await p.svc.search(SEED, type, { ...query, _count: ['100'] })).resources as T[];
}
