// Who is calling: the authenticated principal every adapter hands to the services (SMART App Launch v2 scopes).
export interface Principal {
  /** Subject of the token (user id at the identity provider, or client id for system tokens). */
  readonly sub: string;
  /** FHIR reference of the user: `Practitioner/…`, `PractitionerRole/…`, `Patient/…` or `Device/…`. */
  readonly fhirUser?: string;
  /** Optional PractitionerRole the user acts in (the role chosen at login). */
  readonly role?: string;
  /** Granted scopes, e.g. `user/*.cruds`, `system/Task.rs`, `user/Patient.read`. */
  readonly scopes: readonly string[];
  /** Token issuer. */
  readonly iss: string;
  /** Client (application) that obtained the token. */
  readonly clientId?: string;
}

/** The principal used by the platform itself (background jobs, migrations): never exposed over a protocol. */
export const SYSTEM_PRINCIPAL: Principal = Object.freeze({
  sub: 'system',
  fhirUser: 'Device/platform',
  scopes: Object.freeze(['system/*.*']),
  iss: 'internal',
});
