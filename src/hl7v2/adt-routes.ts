// IHE PAM-FR 2.11 (ITI-30 identity, ITI-31 movements): every ADT route the platform applies, for hl7-routes.ts.
import { ADT_MOVEMENT_ROUTES } from './adt-a01.js';
import { ADT_IDENTITY_ROUTES } from './adt-a28.js';
import { ADT_MERGE_ROUTES } from './adt-a40.js';
import type { Hl7Route } from './hl7-route.js';

/** ADT^A01, A03, A04, A05, A08, A11 (visits), A28, A31 (identity), A40 (merge), A47 (identifier change). */
export const ADT_ROUTES: Hl7Route[] = [...ADT_MOVEMENT_ROUTES, ...ADT_IDENTITY_ROUTES, ...ADT_MERGE_ROUTES];
