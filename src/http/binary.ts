// FHIR R4 Binary (§binary.html#rest): raw content streamed to and from the blob store, with HTTP Range (RFC 9110 §14).
import { Transform, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Request, Response } from 'express';
import type { Binary } from '@medplum/fhirtypes';
import { errors } from '../kernel/errors.js';
import type { BlobStore } from '../store/blob-store.js';
import type { ResourceService } from '../workflow/resource-service.js';
import { auditContext, FHIR_JSON, sendWritten, setVersionHeaders } from './fhir-http.js';

export const BLOB_KEY_URL = 'urn:teleo:blob-key';
export const BLOB_SIZE_URL = 'urn:teleo:blob-size';

export interface BinaryRoutes {
  create(req: Request, res: Response): Promise<void>;
  update(req: Request, res: Response): Promise<void>;
  read(req: Request, res: Response, versionId?: string): Promise<void>;
}

function blobOf(b: Binary): { key: string; size: number } | undefined {
  const ext = b.meta?.extension ?? [];
  const key = ext.find((e) => e.url === BLOB_KEY_URL)?.valueString;
  const size = ext.find((e) => e.url === BLOB_SIZE_URL)?.valueDecimal;
  return key ? { key, size: Number(size ?? 0) } : undefined;
}

/** Base64-encodes a stream without holding it whole: carries 0–2 leftover bytes between chunks. */
function base64Encoder(): Transform {
  let rest: Buffer = Buffer.alloc(0);
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      const buf: Buffer = rest.length ? Buffer.concat([rest, chunk]) : chunk;
      const usable = buf.length - (buf.length % 3);
      rest = buf.subarray(usable);
      cb(null, buf.subarray(0, usable).toString('base64'));
    },
    flush(cb) {
      cb(null, rest.toString('base64'));
    },
  });
}

function parseRange(header: string, size: number): { start: number; end: number } {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) throw errors.rangeNotSatisfiable(`Unsupported Range: ${header}`);
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start > end || start >= size) throw errors.rangeNotSatisfiable(`Range ${header} is outside 0-${size - 1}`);
  return { start, end };
}

function wantsFhirJson(req: Request): boolean {
  const f = req.query._format;
  if (typeof f === 'string') return /json/.test(f);
  const accept = req.headers.accept ?? '';
  return /application\/(fhir\+)?json/.test(accept) && !/\*\/\*/.test(accept.split(',')[0]);
}

export function binaryRoutes(svc: ResourceService, blobs: BlobStore, baseUrl: string, maxBytes: number): BinaryRoutes {
  async function store(req: Request, id?: string): Promise<Binary> {
    const contentType = req.headers['content-type'];
    if (!contentType) throw errors.unsupportedMediaType('Binary upload needs a Content-Type');
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) throw errors.payloadTooLarge(`Binary larger than ${maxBytes} bytes`);
    const info = await blobs.put(req, { maxBytes });
    const securityContext = req.headers['x-security-context'];
    return {
      resourceType: 'Binary',
      ...(id ? { id } : {}),
      contentType,
      ...(typeof securityContext === 'string' ? { securityContext: { reference: securityContext } } : {}),
      meta: { extension: [{ url: BLOB_KEY_URL, valueString: info.key }, { url: BLOB_SIZE_URL, valueDecimal: info.size }] },
    } as Binary;
  }

  /** A FHIR-JSON Binary with inline base64 `data` is moved to the blob store too. */
  async function fromJson(b: Binary): Promise<Binary> {
    const { data, ...rest } = b;
    if (data === undefined) return b;
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(data)) throw errors.badRequest('Binary.data is not base64', 'Binary.data');
    const info = await blobs.put(Readable.from([Buffer.from(data, 'base64')]), { maxBytes });
    return { ...rest, meta: { ...rest.meta, extension: [...(rest.meta?.extension ?? []).filter((e) => e.url !== BLOB_KEY_URL && e.url !== BLOB_SIZE_URL),
      { url: BLOB_KEY_URL, valueString: info.key }, { url: BLOB_SIZE_URL, valueDecimal: info.size }] } };
  }

  return {
    async create(req, res) {
      const ctx = auditContext(res);
      const binary = req.is(['application/fhir+json', 'application/json']) ? await fromJson(req.body as Binary) : await store(req);
      if (binary.resourceType !== 'Binary') throw errors.badRequest('Body is not a Binary');
      const { resource } = await svc.create(ctx, binary);
      sendWritten(req, res, baseUrl, resource, 201);
    },
    async update(req, res) {
      const ctx = auditContext(res);
      let binary: Binary;
      if (req.is(['application/fhir+json', 'application/json'])) {
        const body = req.body as Binary | undefined;
        if (body?.resourceType !== 'Binary') throw errors.badRequest('Body is not a Binary');
        if (body.id !== req.params.id) throw errors.badRequest(`Body id ${body.id ?? '(none)'} does not match URL id ${req.params.id}`, 'Binary.id');
        binary = await fromJson(body);
      } else {
        binary = await store(req, req.params.id);
      }
      const { resource, created } = await svc.update(ctx, binary, { ifMatch: req.headers['if-match'] });
      sendWritten(req, res, baseUrl, resource, created ? 201 : 200);
    },
    async read(req, res, versionId) {
      const ctx = auditContext(res);
      const b = versionId
        ? await svc.vread<Binary>(ctx, 'Binary', req.params.id, versionId)
        : await svc.read<Binary>(ctx, 'Binary', req.params.id);
      const blob = blobOf(b);
      setVersionHeaders(res, b);
      if (wantsFhirJson(req)) {
        res.status(200).type(FHIR_JSON);
        // A Binary stored with inline data (e.g. written by a transaction) is sent whole.
        if (!blob) { res.send(JSON.stringify(b)); return; }
        const { data: _inline, ...rest } = b;
        const head = JSON.stringify(rest);
        res.write(`${head.slice(0, -1)},"data":"`);
        await pipeline(await blobs.get(blob.key), base64Encoder(), res, { end: false });
        res.end('"}');
        return;
      }
      if (!blob) {
        const bytes = Buffer.from(b.data ?? '', 'base64');
        res.status(200).type(b.contentType ?? 'application/octet-stream').send(bytes);
        return;
      }
      res.setHeader('Accept-Ranges', 'bytes');
      res.setHeader('Content-Type', b.contentType ?? 'application/octet-stream');
      if (b.securityContext?.reference) res.setHeader('X-Security-Context', b.securityContext.reference);
      let range: { start: number; end: number } | undefined;
      try {
        range = req.headers.range ? parseRange(req.headers.range, blob.size) : undefined;
      } catch (e) {
        // RFC 9110 §15.5.17: a 416 names the current length in an unsatisfied-range Content-Range.
        res.setHeader('Content-Range', `bytes */${blob.size}`);
        throw e;
      }
      if (range) {
        res.status(206);
        res.setHeader('Content-Range', `bytes ${range.start}-${range.end}/${blob.size}`);
        res.setHeader('Content-Length', String(range.end - range.start + 1));
      } else {
        res.status(200);
        res.setHeader('Content-Length', String(blob.size));
      }
      await pipeline(await blobs.get(blob.key, range), res);
    },
  };
}
