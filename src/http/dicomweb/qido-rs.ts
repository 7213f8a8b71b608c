// DICOM PS3.18 §10.6 Search Transaction (QIDO-RS): studies, series and instances (§10.6.1 resources), matched per
// §8.3.4 query parameters with PS3.4 C.2.2.2 attribute matching over the instance index (src/imaging/dicom-query.ts),
// answered in DICOM JSON (F.2) with the attributes of §10.6.3.3, `includefield`, `limit`/`offset` (§8.3.4.4).
//
// Person names always match case- and accent-insensitively ("lefevre^helene" finds "LEFÈVRE^Hélène", see
// dicom-matching.ts). `fuzzymatching=true` (§8.3.4.1: "additional fuzzy semantic matching of person names", left to
// the origin server) goes further, as the servers clinicians like best do: the value is split into words (on spaces,
// `^`, `-`, `'`, `,`, `.`; wildcards dropped) and a name matches when each word begins one of the name's words, in any
// order and whatever the case or accents: `helene lef` and `LEF` both find `LEFÈVRE^Hélène`. The index narrows the
// candidates (each word must occur in the name), the word-start check runs here, then the page is cut.
//
// No match is 200 with an empty array (the current §10.6.3 wording; older editions allowed 204). Parameters we
// ignore (sequence matching keys, charset) are reported with a `Warning: 299` header field (§8.3.4.5).
import type { DicomJson } from '../../imaging/dicom-json.js';
import { attributeOf } from '../../imaging/attribute-dictionary.js';
import { foldPersonName, stringValues, type AttributeFilter } from '../../imaging/dicom-matching.js';
import { answerOf, DicomQueryError, parseDicomQuery, QUERY_RETRIEVE_LEVEL, UNIQUE_KEY } from '../../imaging/dicom-query.js';
import { errors } from '../../kernel/errors.js';
import type { IndexQueryMatch, InstanceIndex } from '../../store/instance-index.js';
import type { AuditContext } from '../../workflow/audit.js';
import type { StudyAccess } from '../../workflow/imaging/study-access.js';
import { ALL_OF, COMPUTED, DEFAULTS, INSTANCE_AVAILABILITY, RETRIEVE_URL, tablesOf, type QidoLevel } from './qido-rs-attributes.js';

export type { QidoLevel } from './qido-rs-attributes.js';

export interface QidoDeps {
  readonly index: InstanceIndex;
  readonly access: StudyAccess;
  /** Our DICOMweb base URL (Retrieve URL). */
  readonly dicomwebBase: () => string;
  /** Matches answered at most per response; more are reported by a Warning (§8.3.4.4). Default 1000. */
  readonly maxResults?: number;
  /** Candidates examined at most by a fuzzy person name search. Default 10 000. */
  readonly maxFuzzyCandidates?: number;
}

/** The resource searched (§10.6.1): the level, and the study / series of the path. */
export interface QidoScope {
  readonly level: QidoLevel;
  readonly study?: string;
  readonly series?: string;
}

export interface QidoAnswer {
  readonly matches: DicomJson[];
  /** Texts for `Warning: 299` header fields. */
  readonly warnings: string[];
}

interface ParsedParams {
  keys: Map<string, { vr: string; values: string[] }>;
  includes: Set<string>;
  includeAll: boolean;
  fuzzy: boolean;
  limit?: number;
  offset: number;
  warnings: string[];
}

const IGNORED = new Set(['accept', 'charset']);
const UID = /^[0-9]+(\.[0-9]+)*$/;

function count(name: string, value: string, min: number): number {
  if (!/^\d+$/.test(value) || Number(value) < min) throw errors.badRequest(`${name} must be an integer ≥ ${min}: ${value}`);
  return Number(value);
}

function attribute(id: string, param: string) {
  const a = attributeOf(id);
  if (!a) throw errors.badRequest(`Unknown attribute "${id}" in ${param}: give a DICOM keyword (PatientName) or a tag (00100010)`);
  return a;
}

/** Reads §8.3.4 query parameters. Throws 400 with the offending parameter named. */
export function parseQidoParams(query: Record<string, string[]>): ParsedParams {
  const p: ParsedParams = { keys: new Map(), includes: new Set(), includeAll: false, fuzzy: false, offset: 0, warnings: [] };
  for (const [name, values] of Object.entries(query)) {
    const last = values[values.length - 1];
    if (name === 'limit') p.limit = count('limit', last, 1);
    else if (name === 'offset') p.offset = count('offset', last, 0);
    else if (name === 'fuzzymatching') {
      if (last !== 'true' && last !== 'false') throw errors.badRequest(`fuzzymatching must be true or false: ${last}`);
      p.fuzzy = last === 'true';
    } else if (name === 'includefield') {
      for (const id of values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter(Boolean)) {
        if (id === 'all') p.includeAll = true;
        else if (id.includes('.')) p.warnings.push(`includefield ${id}: sequence attribute paths are not supported; ignored`);
        else p.includes.add(attribute(id, 'includefield').tag);
      }
    } else if (IGNORED.has(name)) {
      if (name === 'charset') p.warnings.push('charset: responses are always UTF-8 JSON; ignored');
    } else if (name.includes('.')) {
      p.warnings.push(`${name}: matching on sequence items is not supported; ignored`);
    } else {
      const { tag, vr } = attribute(name, 'the query');
      if (vr === 'SQ') {
        p.warnings.push(`${name}: sequence matching is not supported; returned only`);
        p.includes.add(tag);
        continue;
      }
      const list = values.flatMap((v) => v.split(/[,\\]/)).map((s) => s.trim()).filter(Boolean);
      if (vr === 'UI' && list.some((u) => !UID.test(u) || u.length > 64)) throw errors.badRequest(`${name}: not a UID list: ${values.join(',')}`);
      p.keys.set(tag, { vr, values: list });
    }
  }
  return p;
}

const WORDS = /[\s^,=\-'.]+/;
const wordsOf = (text: string) => foldPersonName(text).split(WORDS).filter(Boolean);
const fuzzyWords = (value: string) => wordsOf(value.replace(/[*?]/g, ' '));

/** Whether every query word starts a word of the entity's name. */
function fuzzyMatch(metadata: DicomJson, tag: string, words: readonly string[]): boolean {
  const name = stringValues(metadata[tag])[0];
  if (name === undefined) return false;
  const have = wordsOf(name);
  return words.every((w) => have.some((h) => h.startsWith(w)));
}

const single = (tag: string, value: string): AttributeFilter => ({ tag, personName: false, rule: { kind: 'single', value } });

function studyUidsOf(filters: readonly AttributeFilter[]): string[] | undefined {
  const f = filters.find((x) => x.tag === UNIQUE_KEY.STUDY && (x.rule.kind === 'single' || x.rule.kind === 'list'));
  if (!f) return undefined;
  return f.rule.kind === 'single' ? [f.rule.value] : f.rule.kind === 'list' ? [...f.rule.values] : undefined;
}

const first = (json: DicomJson, tag: string): string => String(json[tag]?.Value?.[0] ?? '');

function computedValue(tag: string, m: IndexQueryMatch): { vr: string; Value: unknown[] } {
  switch (tag) {
    case '00201206': return { vr: 'IS', Value: [m.series] };
    case '00201208': case '00201209': return { vr: 'IS', Value: [m.instances] };
    case '00080061': return { vr: 'CS', Value: [...m.modalities] };
    default: return { vr: 'UI', Value: [...m.sopClasses] };
  }
}

/** Runs a search for the caller (access checked, visibility applied, audited). */
export async function searchQido(deps: QidoDeps, ctx: AuditContext, scope: QidoScope, query: Record<string, string[]>, request: string): Promise<QidoAnswer> {
  const { index, access } = deps;
  access.authorize(ctx, 'search');
  const p = parseQidoParams(query);
  const { level } = scope;
  const tables = tablesOf(level, scope);
  const identifier: DicomJson = {};
  const fuzzy: { tag: string; words: string[] }[] = [];
  for (const [tag, { vr, values }] of p.keys) {
    if (p.fuzzy && vr === 'PN' && values.length === 1 && fuzzyWords(values[0]).length > 0) {
      fuzzy.push({ tag, words: fuzzyWords(values[0]) });
      identifier[tag] = { vr };
    } else {
      identifier[tag] = values.length === 0 ? { vr } : { vr, Value: vr === 'PN' ? values.map((v) => ({ Alphabetic: v })) : values };
    }
  }
  const returned = new Set([...tables.flatMap((t) => DEFAULTS[t]), ...p.includes]);
  for (const tag of returned) identifier[tag] ??= { vr: attributeOf(tag)?.vr ?? 'UN' };
  let dq;
  try {
    dq = parseDicomQuery(identifier, { level });
  } catch (e) {
    if (e instanceof DicomQueryError) throw errors.badRequest(e.message);
    throw e;
  }
  const filters: AttributeFilter[] = [...dq.filters];
  for (const { tag, words } of fuzzy) for (const w of words) filters.push({ tag, personName: true, rule: { kind: 'wildcard', pattern: `*${w}*` } });
  if (scope.study) filters.push(single(UNIQUE_KEY.STUDY, scope.study));
  if (scope.series) filters.push(single(UNIQUE_KEY.SERIES, scope.series));

  const warnings = [...p.warnings];
  const visible = await access.visibleStudies(ctx, scope.study ? [scope.study] : studyUidsOf(filters));
  const max = deps.maxResults ?? 1000;
  if (p.limit !== undefined && p.limit > max) warnings.push(`limit ${p.limit} exceeds the maximum of ${max} results per response`);
  const limit = Math.min(p.limit ?? max, max);
  let matches: IndexQueryMatch[] = [];
  if (!visible || visible.size > 0) {
    if (visible) filters.push({ tag: UNIQUE_KEY.STUDY, personName: false, rule: { kind: 'list', values: [...visible] } });
    if (fuzzy.length === 0) {
      matches = await index.query({ level, filters, limit: limit + 1, offset: p.offset });
    } else {
      const cap = deps.maxFuzzyCandidates ?? 10_000;
      const candidates = await index.query({ level, filters, limit: cap + 1 });
      if (candidates.length > cap) throw errors.tooCostly(`The fuzzy name search matches over ${cap} entries: narrow it down`);
      matches = candidates.filter((m) => fuzzy.every((f) => fuzzyMatch(m.metadata, f.tag, f.words))).slice(p.offset, p.offset + limit + 1);
    }
  }
  if (matches.length > limit) {
    matches = matches.slice(0, limit);
    warnings.push('There are additional results that can be requested');
  }

  // Counts of the entities above the level ("Number of Study Related …" of a series, etc.), one query per level.
  const above = new Map<QidoLevel, Map<string, IndexQueryMatch>>();
  for (const upper of tables.filter((t) => t !== level)) {
    if (![...returned].some((t) => COMPUTED[t] === upper) || matches.length === 0) continue;
    const uids = [...new Set(matches.map((m) => first(m.metadata, UNIQUE_KEY[upper])))];
    const found = await index.query({ level: upper, filters: [{ tag: UNIQUE_KEY[upper], personName: false, rule: { kind: 'list', values: uids } }] });
    above.set(upper, new Map(found.map((f) => [first(f.metadata, UNIQUE_KEY[upper]), f])));
  }

  const base = deps.dicomwebBase();
  const answers = matches.map((m) => {
    const out = answerOf(dq, m);
    delete out[QUERY_RETRIEVE_LEVEL];
    if (p.includeAll) {
      for (const [tag, attr] of Object.entries(m.metadata)) {
        const wanted = level === 'IMAGE' ? tag !== '7FE00010' && (attr.Value !== undefined || attr.InlineBinary !== undefined || attr.vr === 'SQ')
          : tables.some((t) => t !== 'IMAGE' && ALL_OF[t].has(tag));
        if (wanted && !(tag in out)) out[tag] = attr;
      }
    }
    for (const tag of Object.keys(out)) {
      const owner = COMPUTED[tag];
      if (!owner || !tables.includes(owner)) continue;
      const source = owner === level ? m : above.get(owner)?.get(first(m.metadata, UNIQUE_KEY[owner]));
      if (source) out[tag] = computedValue(tag, source);
    }
    const [study, series, sop] = [first(m.metadata, UNIQUE_KEY.STUDY), first(m.metadata, UNIQUE_KEY.SERIES), first(m.metadata, UNIQUE_KEY.IMAGE)];
    const url = `${base}/studies/${study}${level === 'STUDY' ? '' : `/series/${series}`}${level === 'IMAGE' ? `/instances/${sop}` : ''}`;
    if (RETRIEVE_URL in out) out[RETRIEVE_URL] = { vr: 'UR', Value: [url] };
    if (INSTANCE_AVAILABILITY in out) out[INSTANCE_AVAILABILITY] = { vr: 'CS', Value: ['ONLINE'] };
    return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
  });
  await access.audit(ctx, { kind: 'query', studies: [...new Set(matches.map((m) => first(m.metadata, UNIQUE_KEY.STUDY)))], request });
  return { matches: answers, warnings };
}
