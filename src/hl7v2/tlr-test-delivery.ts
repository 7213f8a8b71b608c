// Test fixture (not shipped): delivers HL7v2 text to the téléradiologie routes as the lead's listener will (partner
// context `hl7:<partner>`, system scopes, via 'hl7v2'), against a test-directory.ts platform.
import { join } from 'node:path';
import { Hl7Message } from '@medplum/core';
import type { AuditContext } from '../workflow/audit.js';
import { EXPERT, type Platform } from '../workflow/teleexpertise/test-directory.js';
import type { Hl7Partner } from './hl7-partner.js';
import type { Hl7Route, InboundResult } from './hl7-route.js';
import { OMI_O23_ROUTES } from './omi-o23.js';
import { ORM_O01_ROUTES } from './orm-o01.js';

export const FIXTURES = join(process.cwd(), 'fixtures', 'hl7v2');
const ROUTES: Hl7Route[] = [...ORM_O01_ROUTES, ...OMI_O23_ROUTES];

export const RIS: Hl7Partner = {
  name: 'ris-test', application: 'StructureApp', facility: 'StructureFacility', charset: 'UNICODE UTF-8',
  ackMode: 'original', reportMessage: 'MDM', orderOwner: EXPERT, organizations: [],
};
export const partnerCtx = (p: Hl7Partner): AuditContext => ({ principal: { sub: `hl7:${p.name}`, iss: 'hl7v2', scopes: ['system/*.*'] }, via: 'hl7v2' });

/**
 * The route for the message's type and ORC-1; when no route takes that ORC-1, the type's first route (its handler
 * refuses the ORC-1 itself: 103 at ORC-1).
 */
export function routeOf(message: Hl7Message): Hl7Route {
  const type = `${message.getSegment('MSH')?.getField(9)?.getComponent(1)}^${message.getSegment('MSH')?.getField(9)?.getComponent(2)}`;
  const control = message.getSegment('ORC')?.getField(1)?.toString() ?? '';
  const ofType = ROUTES.filter((r) => r.messageType === type);
  const route = ofType.find((r) => !r.orderControl || r.orderControl.includes(control)) ?? ofType[0];
  if (!route) throw new Error(`no route for ${type}`);
  return route;
}

export async function deliver(p: Platform, text: string, partner: Hl7Partner = RIS): Promise<InboundResult> {
  const message = Hl7Message.parse(text);
  return routeOf(message).handle({ svc: p.svc, ctx: partnerCtx(partner), message, partner, receivedAt: new Date('2026-01-06T13:44:19Z'), baseUrl: 'http://localhost/fhir' });
}
