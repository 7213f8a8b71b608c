// Task/[id]/$create-exam (FHIR R4 operations, operations.html): the kit's "Créer un examen" — JPEG/PNG images and PDFs
// made into one DICOM study attached to the télédossier (workflow/imaging/exam-creation.ts).
//
// Input, either:
// - multipart/form-data (RFC 7578): fields `studyDescription`, `seriesDescription`, and one or more file parts. This is
//   what a DPI or a web page does most easily (an HTML form or `FormData` with `<input type=file multiple>`, `curl -F`):
//   files go as they are, without base64 (a third larger) and without building a JSON document around them;
// - a Parameters resource (application/fhir+json): `studyDescription`, `seriesDescription` (valueString) and `file`
//   (valueAttachment with inline base64 `data`, `title` as the file name), for FHIR clients.
// Output: a Parameters { studyInstanceUid (valueOid), task (valueReference), instance* (parts sopInstanceUid, sopClassUid,
// filename) }, status 201: the study is stored; it appears on the dossier once its ImagingStudy is synchronised.
import busboy from 'busboy';
import type { Request } from 'express';
import type { Parameters, ParametersParameter } from '@medplum/fhirtypes';
import { errors } from '../kernel/errors.js';
import type { ResourceService } from '../workflow/resource-service.js';
import { createExam, type CreatedExam, type ExamFile, type CreateExamRequest } from '../workflow/imaging/exam-creation.js';
import type { InstanceStore } from '../workflow/imaging/instance-store.js';
import type { FhirOperation } from './fhir-rest.js';
import { auditContext, sendJson } from './fhir-http.js';

export const CREATE_EXAM_OPERATION_URL = 'https://teleo.fr/fhir/OperationDefinition/Task-create-exam';
const MAX_FILES = 100;
const TEXT_FIELDS = ['studyDescription', 'seriesDescription'] as const;

export interface CreateExamLimits {
  /** Largest file accepted, and largest total of a call, in bytes. */
  readonly maxFileBytes: number;
  readonly maxTotalBytes: number;
}

/** Reads the form: text fields and every file part (each held in memory, within the limits). */
function readMultipart(req: Request, limits: CreateExamLimits): Promise<CreateExamRequest> {
  return new Promise((resolve, reject) => {
    let form: busboy.Busboy;
    try {
      form = busboy({ headers: req.headers, limits: { files: MAX_FILES, fileSize: limits.maxFileBytes, fields: 20, fieldSize: 4096 } });
    } catch (e) {
      reject(errors.badRequest(`Malformed multipart/form-data: ${(e as Error).message}`));
      return;
    }
    const fields: Record<string, string> = {};
    const files: ExamFile[] = [];
    let total = 0;
    let failed: Error | undefined;
    const fail = (e: Error) => { failed ??= e; };
    form.on('field', (name, value) => {
      if (!(TEXT_FIELDS as readonly string[]).includes(name)) fail(errors.badRequest(`Unknown field "${name}" (known: ${TEXT_FIELDS.join(', ')}, and files)`));
      else fields[name] = value.trim();
    });
    form.on('file', (_name, stream, info) => {
      const parts: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => {
        total += chunk.byteLength;
        if (total > limits.maxTotalBytes) fail(errors.payloadTooLarge(`The files exceed ${limits.maxTotalBytes} bytes in all`));
        if (!failed) parts.push(chunk);
      });
      stream.on('limit', () => fail(errors.payloadTooLarge(`${info.filename || 'A file'} exceeds ${limits.maxFileBytes} bytes`)));
      stream.on('close', () => { if (!failed) files.push({ filename: info.filename || undefined, bytes: Buffer.concat(parts) }); });
    });
    form.on('filesLimit', () => fail(errors.payloadTooLarge(`At most ${MAX_FILES} files per exam`)));
    form.on('error', (e: Error) => reject(errors.badRequest(`Malformed multipart/form-data: ${e.message}`)));
    form.on('close', () => (failed ? reject(failed) : resolve({ ...fields, files })));
    req.pipe(form);
  });
}

function fromParameters(body: Parameters): CreateExamRequest {
  const out: { studyDescription?: string; seriesDescription?: string; files: ExamFile[] } = { files: [] };
  for (const p of body.parameter ?? []) {
    if (p.name === 'file') {
      const data = p.valueAttachment?.data;
      if (!data) throw errors.badRequest('Parameter \'file\': needs a valueAttachment with inline base64 data', 'file');
      out.files.push({ filename: p.valueAttachment?.title, bytes: Buffer.from(data, 'base64') });
    } else if ((TEXT_FIELDS as readonly string[]).includes(p.name as string)) {
      if (typeof p.valueString !== 'string') throw errors.badRequest(`Parameter '${p.name}': needs a valueString`, p.name);
      out[p.name as (typeof TEXT_FIELDS)[number]] = p.valueString.trim();
    } else {
      throw errors.badRequest(`Unknown $create-exam parameter: ${p.name}`);
    }
  }
  return out;
}

export function resultParameters(exam: CreatedExam): Parameters {
  const instance = (i: CreatedExam['instances'][number]): ParametersParameter => ({
    name: 'instance',
    part: [
      { name: 'sopInstanceUid', valueOid: `urn:oid:${i.sopInstanceUid}` },
      { name: 'sopClassUid', valueOid: `urn:oid:${i.sopClassUid}` },
      ...(i.filename ? [{ name: 'filename', valueString: i.filename }] : []),
    ],
  });
  return {
    resourceType: 'Parameters',
    parameter: [
      { name: 'studyInstanceUid', valueOid: `urn:oid:${exam.studyInstanceUid}` },
      { name: 'task', valueReference: { reference: exam.task } },
      ...exam.instances.map(instance),
    ],
  };
}

export function createExamOperation(svc: ResourceService, store: InstanceStore, aeTitle: string, limits: CreateExamLimits): FhirOperation {
  return {
    name: 'create-exam',
    definition: CREATE_EXAM_OPERATION_URL,
    affectsState: true,
    level: ['instance'],
    types: ['Task'],
    handler: async (req, res) => {
      const ctx = auditContext(res);
      let input: CreateExamRequest;
      if (req.is('multipart/form-data')) {
        // Check the caller may update dossiers before reading a large body.
        svc.authorize(ctx, 'update', 'Task');
        input = await readMultipart(req, limits);
      } else if (req.is(['application/fhir+json', 'application/json'])) {
        const body = req.body as Parameters | undefined;
        if (body?.resourceType !== 'Parameters') throw errors.badRequest('$create-exam takes a Parameters resource or multipart/form-data');
        input = fromParameters(body);
      } else {
        throw errors.unsupportedMediaType('$create-exam takes multipart/form-data (files) or application/fhir+json (Parameters)');
      }
      const exam = await createExam({ svc, store, aeTitle }, ctx, req.params.id, input);
      sendJson(res, 201, resultParameters(exam));
    },
  };
}
