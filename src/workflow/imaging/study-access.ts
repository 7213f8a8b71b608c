// Who may read which DICOM study over DICOMweb (PS3.18) or any other imaging protocol over HTTP, and the PS3.15 A.5.3
// audit of each read: the one place these decisions are made for studies (the FHIR side governs them: ImagingStudy).
//
// - Reading needs the `read` (retrieve) or `search` (query) scope on ImagingStudy (ResourceService.authorize).
// - A caller acting under a `system/` scope for ImagingStudy (platform, integration client) sees every study.
// - A caller acting for a user (`user/` scopes) sees a study only when its FHIR ImagingStudy (identified by
//   `urn:dicom:uid|urn:oid:<StudyInstanceUID>`, see imaging-study-sync.ts) is visible to them through
//   ResourceService.search, which applies the télédossier visibility. A study not yet synchronised to FHIR is not
//   visible to users. Answers are cached per user and study for a few seconds (a viewer fetches hundreds of frames
//   of one study), as the dossier visibility caches a user's party.
import type { Coding, ImagingStudy } from '@medplum/fhirtypes';
import { errors } from '../../kernel/errors.js';
import { parseScope } from '../access-policy.js';
import { queueAudit, type AuditContext, type AuditRecord } from '../audit.js';
import type { ResourceService } from '../resource-service.js';
import { DICOM_UID_SYSTEM } from '../teleexpertise/teledossier-resources.js';

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
/** PS3.15 A.5.3.12 Query (DCM 110112). */
export const QUERY_EVENT: Coding = { system: DCM, code: '110112', display: 'Query' };
/** PS3.15 A.5.3.2 DICOM Instances Accessed (DCM 110103): metadata read, no instance leaves. */
export const INSTANCES_ACCESSED: Coding = { system: DCM, code: '110103', display: 'DICOM Instances Accessed' };
/** PS3.15 A.5.3.3 DICOM Instances Transferred (DCM 110104): instances, frames or bulk data sent to the caller. */
export const INSTANCES_TRANSFERRED: Coding = { system: DCM, code: '110104', display: 'DICOM Instances Transferred' };

/** What a read is: a query (QIDO-RS, 110112), a metadata read (110103) or a transfer of instances (110104). */
export type StudyReadKind = 'query' | 'metadata' | 'transfer';

export interface StudyReadAudit {
  readonly kind: StudyReadKind;
  /** StudyInstanceUIDs read or answered. */
  readonly studies: readonly string[];
  /** SOP Instance UIDs transferred, when the read names them (instance or frame level). */
  readonly instances?: readonly string[];
  /** The request as received (path and query string), recorded as the query entity. */
  readonly request: string;
  readonly outcome?: AuditRecord['outcome'];
  readonly outcomeDesc?: string;
}

export interface StudyAccess {
  /** Throws 403 unless the caller's scopes allow reading (`read`) or querying (`search`) imaging studies. */
  authorize(ctx: AuditContext, interaction: 'read' | 'search'): void;
  /**
   * The studies the caller may see: undefined when not restricted (system scope); otherwise the visible ones
   * among `among` when given, or all the visible ones.
   */
  visibleStudies(ctx: AuditContext, among?: readonly string[]): Promise<ReadonlySet<string> | undefined>;
  /** Throws 404 (as for a FHIR read of a resource one may not see) unless the caller may see the study. */
  assertVisible(ctx: AuditContext, studyInstanceUid: string): Promise<void>;
  /** Queues the AuditEvent of a read (PS3.15 A.5.3 event ID as subtype), durable, off the response path. */
  audit(ctx: AuditContext, read: StudyReadAudit): Promise<void>;
}

export interface StudyAccessOptions {
  /** How long a user's view of a study is trusted, in ms. Default 5 000. */
  readonly ttlMs?: number;
  /** Entries kept at most in that cache. Default 10 000. */
  readonly maxEntries?: number;
}

const RESOURCE = 'ImagingStudy';
const uidToken = (uid: string) => `${DICOM_UID_SYSTEM}|urn:oid:${uid}`;
/** FHIR token lists are comma-separated: UIDs contain no comma, but ask in batches so URLs and SQL stay bounded. */
const BATCH = 200;

/** Whether the principal acts as a system client for ImagingStudy (not filtered by dossier participation). */
function isSystem(ctx: AuditContext): boolean {
  return ctx.principal.scopes.some((s) => {
    const g = parseScope(s);
    return !!g && g.context === 'system' && (g.type === '*' || g.type === RESOURCE) && (g.letters.has('r') || g.letters.has('s'));
  });
}

function studyUidsOf(studies: readonly ImagingStudy[]): string[] {
  const out: string[] = [];
  for (const s of studies) {
    for (const id of s.identifier ?? []) {
      if (id.system === DICOM_UID_SYSTEM && id.value?.startsWith('urn:oid:')) out.push(id.value.slice('urn:oid:'.length));
    }
  }
  return out;
}

export function createStudyAccess(svc: ResourceService, options: StudyAccessOptions = {}): StudyAccess {
  const ttl = options.ttlMs ?? 5_000;
  const maxEntries = options.maxEntries ?? 10_000;
  const seen = new Map<string, { visible: boolean; at: number }>();
  const who = (ctx: AuditContext) => `${ctx.principal.iss}|${ctx.principal.sub}|${ctx.principal.fhirUser ?? ''}|${ctx.principal.role ?? ''}|`;

  async function search(ctx: AuditContext, query: Record<string, string[]>): Promise<{ uids: string[]; count: number; more: boolean }> {
    const res = await svc.search(ctx, RESOURCE, query);
    return { uids: studyUidsOf(res.resources as ImagingStudy[]), count: res.resources.length, more: res.hasMore };
  }

  /** Every study the user sees, a page of the service's maximum page size at a time. */
  async function allVisible(ctx: AuditContext): Promise<Set<string>> {
    const out = new Set<string>();
    for (let offset = 0; ; ) {
      const page = await search(ctx, { _count: ['1000'], _offset: [String(offset)], _sort: ['_id'] });
      page.uids.forEach((u) => out.add(u));
      if (!page.more || page.count === 0) return out;
      offset += page.count; // the service may cap the page below 1000 (SEARCH_MAX_COUNT)
    }
  }

  async function visibleAmong(ctx: AuditContext, among: readonly string[]): Promise<Set<string>> {
    const out = new Set<string>();
    const key = who(ctx);
    const now = Date.now();
    const unknown: string[] = [];
    for (const uid of new Set(among)) {
      const hit = seen.get(key + uid);
      if (hit && now - hit.at <= ttl) {
        if (hit.visible) out.add(uid);
      } else {
        unknown.push(uid);
      }
    }
    for (let i = 0; i < unknown.length; i += BATCH) {
      const batch = unknown.slice(i, i + BATCH);
      const { uids } = await search(ctx, { identifier: [batch.map(uidToken).join(',')], _count: [String(batch.length * 2)] });
      const found = new Set(uids);
      if (seen.size + batch.length > maxEntries) seen.clear();
      for (const uid of batch) {
        seen.set(key + uid, { visible: found.has(uid), at: now });
        if (found.has(uid)) out.add(uid);
      }
    }
    return out;
  }

  return {
    authorize(ctx, interaction) {
      svc.authorize(ctx, interaction, RESOURCE);
    },

    async visibleStudies(ctx, among) {
      if (isSystem(ctx)) return undefined;
      return among ? visibleAmong(ctx, among) : allVisible(ctx);
    },

    async assertVisible(ctx, studyInstanceUid) {
      if (isSystem(ctx)) return;
      const visible = await visibleAmong(ctx, [studyInstanceUid]);
      if (!visible.has(studyInstanceUid)) throw errors.notFound(`Study ${studyInstanceUid} not found`);
    },

    async audit(ctx, read) {
      const subtype = read.kind === 'query' ? QUERY_EVENT : read.kind === 'metadata' ? INSTANCES_ACCESSED : INSTANCES_TRANSFERRED;
      await queueAudit(svc.jobs, ctx, {
        interaction: read.kind === 'query' ? 'search-type' : 'read',
        action: read.kind === 'query' ? 'E' : 'R',
        subtype,
        entities: [...new Set([...read.studies, ...(read.instances ?? [])])].map((u) => `urn:oid:${u}`),
        query: read.request,
        outcome: read.outcome ?? '0',
        ...(read.outcomeDesc ? { outcomeDesc: read.outcomeDesc } : {}),
      });
    },
  };
}
