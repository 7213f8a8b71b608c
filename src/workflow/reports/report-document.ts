// The CDA document issued for a report (FHIR R4 DocumentReference, documentreference.html): one per version sent, the
// newest `current`, the ones it replaces `superseded`; a deleted report's `entered-in-error`. What the DPI (and later the
// DMP) received is decided here: initial (T02), replacement (T10) or deletion (T04).
import { createHash } from 'node:crypto';
import type { DiagnosticReport, DocumentReference } from '@medplum/fhirtypes';
import type { AuditContext } from '../audit.js';
import type { ResourceService } from '../resource-service.js';

export type DocumentEvent = 'T02' | 'T10' | 'T04';

/** A DICOM/ISO OID under 2.25 (ITU-T X.667: a UUID as one integer), stable for `key`. */
export function oidFor(key: string): string {
  const hex = createHash('sha256').update(key).digest('hex').slice(0, 32);
  return `2.25.${BigInt(`0x${hex}`).toString()}`;
}

/** The document id of one version of a report, and the set id of all its versions. */
export function documentIds(report: DiagnosticReport): { id: string; setId: string } {
  return { id: oidFor(`DiagnosticReport/${report.id}/_history/${report.meta?.versionId}`), setId: oidFor(`DiagnosticReport/${report.id}`) };
}

export interface IssuedDocument {
  readonly event: DocumentEvent;
  readonly id: string;
  readonly setId: string;
  /** The document replaced (T10) or deleted (T04). */
  readonly parent?: string;
  /** This version was already issued (a retried job): nothing new was written. */
  readonly already: boolean;
  /** The version number within the set (CDA versionNumber). */
  readonly version: number;
}

const urn = (oid: string) => `urn:oid:${oid}`;
const oidOf = (d: DocumentReference) => d.masterIdentifier?.value?.replace(/^urn:oid:/, '') ?? '';

/**
 * Records, in `t`'s transaction, that `report` (its current version) is issued as a CDA document (`render` gives its
 * base64 XML, knowing its id, version and the document it replaces); returns what the receivers must be told. A deleted report (entered-in-error) deletes the last document.
 */
export async function issueReportDocument(t: ResourceService, ctx: AuditContext, report: DiagnosticReport,
  render: (doc: { id: string; setId: string; version: number; parent?: string }) => string, loinc: { code: string; display: string },
  options: { onlyIfIssued?: boolean } = {}): Promise<IssuedDocument | undefined> {
  const { id, setId } = documentIds(report);
  const ref = `DiagnosticReport/${report.id}`;
  const issued = (await t.search(ctx, 'DocumentReference', { related: [ref], _count: ['100'], _sort: ['-_lastUpdated'] })).resources as DocumentReference[];
  const same = issued.find((d) => d.masterIdentifier?.value === urn(id));
  const current = issued.find((d) => d.status === 'current');
  if (report.status === 'entered-in-error') {
    if (!current) return undefined;
    await t.update(ctx, { ...current, status: 'entered-in-error' });
    return { event: 'T04', id: oidOf(current), setId, parent: oidOf(current), already: false, version: issued.length };
  }
  if (same) {
    const replaced = issued.find((d) => `DocumentReference/${d.id}` === same.relatesTo?.[0]?.target?.reference);
    return { event: replaced ? 'T10' : 'T02', id, setId, ...(replaced ? { parent: oidOf(replaced) } : {}), already: true,
      version: issued.length - issued.indexOf(same) };
  }
  // A change to a report not issued yet waits for the workflow step that issues it (e.g. the visit created by the BE).
  if (options.onlyIfIssued && !current) return undefined;
  if (current) await t.update(ctx, { ...current, status: 'superseded' });
  const content = render({ id, setId, version: issued.length + 1, ...(current ? { parent: oidOf(current) } : {}) });
  await t.create<DocumentReference>(ctx, {
    resourceType: 'DocumentReference', status: 'current', docStatus: 'final',
    masterIdentifier: { system: 'urn:ietf:rfc:3986', value: urn(id) },
    identifier: [{ system: 'urn:ietf:rfc:3986', value: urn(setId) }],
    type: { coding: [{ system: 'http://loinc.org', code: loinc.code, display: loinc.display }] },
    ...(report.subject?.reference ? { subject: { reference: report.subject.reference } } : {}),
    date: new Date().toISOString(),
    ...(current ? { relatesTo: [{ code: 'replaces', target: { reference: `DocumentReference/${current.id}` } }] } : {}),
    content: [{ attachment: { contentType: 'text/xml', data: content, title: `CDA ${loinc.display}` },
      format: { system: 'urn:oid:1.3.6.1.4.1.19376.1.2.3', code: 'urn:ihe:iti:xds-sd:pdf:2008' } }],
    context: { related: [{ reference: ref }] },
  });
  return { event: current ? 'T10' : 'T02', id, setId, ...(current ? { parent: oidOf(current) } : {}), already: false, version: issued.length + 1 };
}
