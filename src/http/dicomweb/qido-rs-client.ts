// PS3.18 §10.6 QIDO-RS Search Transaction, user agent side: a study-level search of a remote origin server (a hospital
// PACS), the kit's criteria as PS3.18 §8.3.4 query parameters, DICOM JSON (F.2) back.
//
// Why not the `dicomweb-client` npm package: in Node 20 it throws "XMLHttpRequest is not defined" (it is built on the
// browser's XMLHttpRequest), and it buffers each response whole, which WADO-RS retrieves of a 1.5 GB study cannot
// afford. fetch streams, and the two requests we need are a few lines each.
import type { DicomJson } from '../../imaging/dicom-json.js';
import { OperationOutcomeError, outcome } from '../../kernel/errors.js';
import { STUDY_QUERY_TAGS, STUDY_RETURN_KEYS, type StudyQuery } from '../../workflow/imaging/pacs-port.js';

/** A remote DICOMweb service root (e.g. https://pacs.example/dicom-web), optionally with user:password for Basic auth. */
export interface DicomwebOrigin {
  readonly url: string;
  readonly timeoutMs?: number;
}

/** 502 OperationOutcomeError naming the origin (never its credentials). */
export function originError(origin: DicomwebOrigin, what: string, transient = true): OperationOutcomeError {
  return new OperationOutcomeError(outcome(502, transient ? 'transient' : 'processing', `${redacted(origin.url)}: ${what}`));
}

function redacted(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(invalid DICOMweb URL)';
  }
}

/**
 * fetch against the origin: credentials in the URL become an Authorization header (fetch refuses URLs with them);
 * network failures and 5xx answers are transient 502s, other non-2xx answers permanent ones.
 */
export async function fetchOrigin(origin: DicomwebOrigin, path: string, accept: string, signal?: AbortSignal): Promise<Response> {
  const base = new URL(origin.url.replace(/\/+$/, ''));
  const headers = new Headers({ Accept: accept });
  if (base.username || base.password) {
    headers.set('Authorization', `Basic ${Buffer.from(`${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}`).toString('base64')}`);
    base.username = '';
    base.password = '';
  }
  const timeout = AbortSignal.timeout(origin.timeoutMs ?? 30_000);
  let res: Response;
  try {
    res = await fetch(`${base.toString().replace(/\/+$/, '')}${path}`, { headers, signal: signal ? AbortSignal.any([signal, timeout]) : timeout });
  } catch (e) {
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    throw originError(origin, `unreachable (${cause?.code ?? cause?.message ?? (e as Error).message})`);
  }
  if (!res.ok) {
    const text = (await res.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ').trim();
    throw originError(origin, `HTTP ${res.status} on ${path.split('?')[0]}${text ? `: ${text}` : ''}`, res.status >= 500 || res.status === 429);
  }
  return res;
}

/** QIDO-RS query parameters of a study-level StudyQuery (attribute keywords of PS3.18 Table 10.6.1-5). */
export function qidoStudyParams(query: StudyQuery): URLSearchParams {
  const keyword: Record<string, string> = {
    '00100010': 'PatientName', '00100030': 'PatientBirthDate', '00100020': 'PatientID', '00080020': 'StudyDate',
    '00080061': 'ModalitiesInStudy', '00080050': 'AccessionNumber', '0020000D': 'StudyInstanceUID',
  };
  const params = new URLSearchParams();
  for (const [key, tag] of Object.entries(STUDY_QUERY_TAGS)) {
    const value = query[key as keyof typeof STUDY_QUERY_TAGS];
    if (value !== undefined && value !== '') params.set(keyword[tag], value);
  }
  for (const tag of Object.keys(STUDY_RETURN_KEYS)) params.append('includefield', tag);
  if (query.limit !== undefined) params.set('limit', String(query.limit));
  return params;
}

/** GET {origin}/studies?…: the matching studies (an empty list for 204 No Content). */
export async function searchStudies(origin: DicomwebOrigin, query: StudyQuery): Promise<DicomJson[]> {
  const res = await fetchOrigin(origin, `/studies?${qidoStudyParams(query).toString()}`, 'application/dicom+json, application/json');
  if (res.status === 204) return [];
  const body = (await res.json().catch(() => undefined)) as unknown;
  if (!Array.isArray(body)) throw originError(origin, 'QIDO-RS answer is not a DICOM JSON array', false);
  return body as DicomJson[];
}
