// HL7 v2.5.1 §2.9: the inbound messages the platform applies (CI-SIS Téléradiologie flux 1, 2, 4; IHE PAM-FR ADT), as data.
import type { Hl7Route } from './hl7-route.js';
import { ADT_ROUTES } from './adt-routes.js';
import { OMI_O23_ROUTES } from './omi-o23.js';
import { ORM_O01_ROUTES } from './orm-o01.js';

/** Every registered route; the integration statement and the MSH checks (200/201/ORC-1) are derived from it. */
export function hl7Routes(): Hl7Route[] {
  return [...ORM_O01_ROUTES, ...OMI_O23_ROUTES, ...ADT_ROUTES];
}
