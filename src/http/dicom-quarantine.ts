// The operator's HTTP API over the DICOM quarantine (objects the store service kept aside, PS3.4 Annex B):
//   GET  /operator/dicom-quarantine?reason=&limit=&offset=   the entries, newest first (JSON)
//   GET  /operator/dicom-quarantine/{id}                      one entry (JSON)
//   GET  /operator/dicom-quarantine/{id}/content              its bytes as kept (application/dicom for a Part 10 file)
//   POST /operator/dicom-quarantine/{id}/replay               through the store service again, with the outcome
// Translation only: access, audit and the replay itself are the workflow's (workflow/imaging/dicom-quarantine.ts).
import express, { type Request, type Response, type Router } from 'express';
import { pipeline } from 'node:stream/promises';
import { errors } from '../kernel/errors.js';
import type { BlobStore } from '../store/blob-store.js';
import type { InstanceIndex, QuarantinedObject, QuarantineReason } from '../store/instance-index.js';
import type { AuditContext } from '../workflow/audit.js';
import { createDicomQuarantine, type ReplayOutcome } from '../workflow/imaging/dicom-quarantine.js';
import type { InstanceStore } from '../workflow/imaging/instance-store.js';
import type { ResourceService } from '../workflow/resource-service.js';
import { route } from './fhir-http.js';

export interface DicomQuarantineRouterDeps {
  readonly svc: Pick<ResourceService, 'authorize'>;
  readonly index: InstanceIndex;
  readonly blobs: BlobStore;
  readonly store: InstanceStore;
}

const REASONS: readonly QuarantineReason[] = ['conflict', 'unparseable', 'mismatch'];
const MAX_LIMIT = 1000;

function intParam(req: Request, name: string, dflt: number, min: number, max: number): number {
  const raw = req.query[name];
  if (raw === undefined) return dflt;
  const n = typeof raw === 'string' && /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) throw errors.badRequest(`${name} must be an integer from ${min} to ${max}`);
  return n;
}

/** An entry with the links to act on it. */
function view(entry: QuarantinedObject, base: string): Record<string, unknown> {
  return { ...entry, links: { self: `${base}/${entry.id}`, content: `${base}/${entry.id}/content`, replay: `${base}/${entry.id}/replay` } };
}

function outcomeView(o: ReplayOutcome): Record<string, unknown> {
  switch (o.kind) {
    case 'stored':
    case 'identical':
      return { kind: o.kind, sopInstanceUid: o.instance.sopInstanceUid, studyInstanceUid: o.instance.studyInstanceUid };
    case 'conflict':
      return { kind: o.kind, sopInstanceUid: o.existing.sopInstanceUid, quarantineId: o.quarantined.id };
    case 'rejected':
      return { kind: o.kind, reason: o.reason, detail: o.detail, quarantineId: o.quarantined.id };
    case 'unreadable':
      return { kind: o.kind, detail: o.detail };
  }
}

export function dicomQuarantineRouter(deps: DicomQuarantineRouterDeps): Router {
  const quarantine = createDicomQuarantine(deps);
  const router = express.Router();
  const ctxOf = (res: Response): AuditContext => res.locals.ctx as AuditContext;
  const baseOf = (req: Request): string => req.baseUrl;

  router.get('/', route(async (req, res) => {
    const reason = req.query.reason;
    if (reason !== undefined && !REASONS.includes(reason as QuarantineReason)) throw errors.badRequest(`reason must be one of ${REASONS.join(', ')}`);
    const limit = intParam(req, 'limit', 50, 1, MAX_LIMIT);
    const offset = intParam(req, 'offset', 0, 0, Number.MAX_SAFE_INTEGER);
    const entries = await quarantine.list(ctxOf(res), { limit, offset, reason: reason as QuarantineReason | undefined });
    const next = entries.length === limit
      ? `${baseOf(req)}?${new URLSearchParams({ ...(reason ? { reason: String(reason) } : {}), limit: String(limit), offset: String(offset + limit) }).toString()}`
      : undefined;
    res.status(200).json({ entries: entries.map((e) => view(e, baseOf(req))), limit, offset, ...(next ? { next } : {}) });
  }));

  router.get('/:id', route(async (req, res) => {
    res.status(200).json(view(await quarantine.get(ctxOf(res), req.params.id), baseOf(req)));
  }));

  router.get('/:id/content', route(async (req, res) => {
    const { entry, content } = await quarantine.open(ctxOf(res), req.params.id);
    // Entries kept by the store service are Part 10 files; bytes that were none (a STOW-RS part without meta) are raw.
    res.status(200);
    res.setHeader('Content-Type', entry.transferSyntaxUid ? 'application/dicom' : 'application/octet-stream');
    res.setHeader('Content-Length', String(entry.blobSize));
    res.setHeader('Content-Disposition', `attachment; filename="${entry.id}.${entry.transferSyntaxUid ? 'dcm' : 'bin'}"`);
    await pipeline(content, res);
  }));

  router.post('/:id/replay', route(async (req, res) => {
    const { entry, outcome } = await quarantine.replay(ctxOf(res), req.params.id);
    res.status(200).json({ entry: view(entry, baseOf(req)), outcome: outcomeView(outcome) });
  }));
  return router;
}
