// DICOM file import over HTTP: one PS3.10 Part 10 file (application/dicom, PS3.18 Annex A) or a zip of them (a CD-ROM
// file set with its DICOMDIR, PS3.10 §8 / PS3.12, zipped), streamed to the store service; answers the import summary.
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import express, { type Request, type Router } from 'express';
import { errors } from '../kernel/errors.js';
import type { Logger } from '../kernel/logger.js';
import type { InstanceSource } from '../store/instance-index.js';
import { queueAudit, type AuditContext } from '../workflow/audit.js';
import { importFile, IMPORT_CALLING_AE, ImportRecorder, type ImportSummary } from '../workflow/imaging/file-import.js';
import type { InstanceStore } from '../workflow/imaging/instance-store.js';
import type { ResourceService } from '../workflow/resource-service.js';
import { route } from './fhir-http.js';
import { forEachZipEntry, ZipArchiveError, type ZipItem, type ZipLimits } from './zip-archive.js';

export interface DicomImportOptions {
  readonly svc: ResourceService;
  readonly store: InstanceStore;
  /** Where zip uploads are spooled (yauzl reads the central directory at the end first): a disk folder, not tmpfs. */
  readonly spoolDir: string;
  /** Recorded as the called AE title of imported instances (their calling AE title is IMPORT). */
  readonly calledAe: string;
  /** Largest body accepted (a zip, or one file). */
  readonly maxUploadBytes: number;
  /** Defaults: 100,000 entries, 2 GiB per entry, 4 × maxUploadBytes in all. */
  readonly zipLimits?: Partial<ZipLimits>;
  /** Zip entries stored at once (each holds at most the store's header buffer in memory). Default 4. */
  readonly concurrency?: number;
  readonly logger: Logger;
}

const ZIP_TYPES = new Set(['application/zip', 'application/x-zip-compressed']);
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
/** DICOM audit event ID "Import" (PS3.15 A.5.3.4, DCM 110107): data imported from external media. */
const IMPORT_EVENT = { system: DCM, code: '110107', display: 'Import' };

function mediaTypeOf(req: Request): string {
  return (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
}

/** The file name of a single-file upload, from Content-Disposition (RFC 6266: `filename*=UTF-8''…` or `filename="…"`). */
function fileNameOf(req: Request): string {
  const cd = req.headers['content-disposition'] ?? '';
  const extended = /filename\*\s*=\s*UTF-8''([^;\s]+)/i.exec(cd);
  if (extended) {
    try {
      return decodeURIComponent(extended[1]);
    } catch { /* malformed percent-encoding: fall back */ }
  }
  return /filename\s*=\s*"([^"]*)"/i.exec(cd)?.[1] || 'upload.dcm';
}

/** The request body, failing with 413 past `max` bytes (whatever Content-Length said). */
async function* limited(source: AsyncIterable<Uint8Array>, max: number): AsyncGenerator<Uint8Array> {
  let size = 0;
  for await (const chunk of source) {
    size += chunk.byteLength;
    if (size > max) throw errors.payloadTooLarge(`Request body larger than ${max} bytes`);
    yield chunk;
  }
}

export function dicomImportRouter(o: DicomImportOptions): Router {
  const limits: ZipLimits = {
    maxEntries: 100_000, maxEntryBytes: 2 * 1024 ** 3, maxTotalBytes: 4 * o.maxUploadBytes, ...o.zipLimits,
  };
  const concurrency = o.concurrency ?? 4;
  // Spooled uploads left by a stopped process are garbage.
  const spoolReady = rm(o.spoolDir, { recursive: true, force: true }).then(() => mkdir(o.spoolDir, { recursive: true }));
  spoolReady.catch(() => undefined); // a failure is reported to the first zip import, which awaits it

  /** One zip entry: stored, or skipped/failed with the reason; an unreadable entry is a failure of that entry only. */
  async function importEntry(rec: ImportRecorder, item: ZipItem, source: InstanceSource, actor: AuditContext): Promise<void> {
    if (item.kind === 'refused') {
      if (item.as === 'failure') rec.fail(item.name, item.reason);
      else rec.skip(item.name, item.reason, false);
      return;
    }
    let stream: Readable;
    try {
      stream = await item.open();
    } catch (e) {
      rec.fail(item.name, `unreadable zip entry: ${(e as Error).message}`);
      return;
    }
    let entryError: Error | undefined;
    stream.on('error', (e: Error) => { entryError ??= e; });
    try {
      if (!(await importFile(o.store, rec, item.name, stream, source, actor))) stream.destroy();
    } catch (e) {
      stream.destroy();
      if (!entryError) throw e;
      rec.fail(item.name, `unreadable zip entry: ${entryError.message}`);
    }
  }

  async function importZip(req: Request, rec: ImportRecorder, source: InstanceSource, actor: AuditContext): Promise<void> {
    await spoolReady;
    const path = join(o.spoolDir, `${randomUUID()}.zip`);
    try {
      await pipeline(limited(req, o.maxUploadBytes), createWriteStream(path, { flags: 'wx' }));
      const { error } = await forEachZipEntry(path, limits, concurrency, (item) => importEntry(rec, item, source, actor));
      if (error) rec.fail('(zip archive)', error);
    } catch (e) {
      if (e instanceof ZipArchiveError) throw errors.badRequest(e.message);
      throw e;
    } finally {
      await rm(path, { force: true });
    }
  }

  async function audit(ctx: AuditContext, s: ImportSummary): Promise<void> {
    const { stored, alreadyPresent, conflicts, failed } = s.instances;
    await queueAudit(o.svc.jobs, ctx, {
      interaction: 'create', action: 'C', subtype: IMPORT_EVENT, entities: s.studies.map((st) => `urn:oid:${st.studyInstanceUid}`),
      outcome: failed + conflicts > 0 ? '4' : '0',
      outcomeDesc: `file import: ${s.files} files, ${stored} stored, ${alreadyPresent} already present, ${conflicts} conflicts, ${failed} failed, ${s.skipped.nonDicom + s.skipped.other} skipped`,
    });
  }

  const router = express.Router();
  router.post('/', route(async (req, res) => {
    const ctx = res.locals.ctx as AuditContext;
    o.svc.authorize(ctx, 'create', 'ImagingStudy');
    const type = mediaTypeOf(req);
    if (type !== 'application/dicom' && !ZIP_TYPES.has(type)) {
      throw errors.unsupportedMediaType(`Content-Type must be application/dicom (one Part 10 file) or application/zip, not "${type}"`);
    }
    const declared = Number(req.headers['content-length']);
    if (declared > o.maxUploadBytes) throw errors.payloadTooLarge(`Request body of ${declared} bytes, more than ${o.maxUploadBytes}`);
    const rec = new ImportRecorder();
    const source: InstanceSource = { callingAe: IMPORT_CALLING_AE, calledAe: o.calledAe, ...(ctx.remoteAddress ? { remoteAddress: ctx.remoteAddress } : {}) };
    if (type === 'application/dicom') {
      const body = limited(req, o.maxUploadBytes);
      // A file not stored is left partly read: the rest is read and dropped so that the connection can be reused.
      if (!(await importFile(o.store, rec, fileNameOf(req), body, source, ctx))) for await (const _chunk of body) { /* dropped */ }
    } else {
      await importZip(req, rec, source, ctx);
    }
    await audit(ctx, rec.summary);
    o.logger.info('DICOM file import', { files: rec.summary.files, ...rec.summary.instances, studies: rec.summary.studies.length });
    res.status(200).json(rec.summary);
  }));
  router.all('/', (req, _res, next) => next(errors.methodNotAllowed(`${req.method} not allowed: POST a file or a zip`)));
  return router;
}
