// SQL of an instance index query (PS3.4 C.2.2.2 matching, C.6 levels) over the dicom_instance table of migration 005:
// the same statement on PostgreSQL and PGlite. The memory twin (src/store/memory-instance-index.ts) mirrors it.
import type { DicomJson } from '../imaging/dicom-json.js';
import { likePattern, PN_FOLD_FROM, PN_FOLD_TO, type AttributeFilter } from '../imaging/dicom-matching.js';
import type { IndexQuery, IndexQueryMatch, QueryLevel } from '../store/instance-index.js';

/** Attributes kept in a column of their own (trimmed first value, as `parsePart10Metadata` extracts them). */
const COLUMNS: Record<string, string> = {
  '0020000D': 'study_instance_uid', '0020000E': 'series_instance_uid', '00080018': 'sop_instance_uid',
  '00080016': 'sop_class_uid', '00100020': 'patient_id', '00100021': 'issuer_of_patient_id', '00080050': 'accession_number',
};

/** The columns an entity of each level is grouped by (and ordered by). */
const ENTITY: Record<QueryLevel, readonly string[]> = {
  PATIENT: ["coalesce(patient_id, '')", "coalesce(issuer_of_patient_id, '')"],
  STUDY: ['study_instance_uid'],
  SERIES: ['series_instance_uid'],
  IMAGE: ['sop_instance_uid'],
};

/** `foldPersonName` as one translate(): the accented letters to their (lower-cased) base letter, A–Z to a–z. */
const ASCII_UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const FOLD_FROM = `${PN_FOLD_FROM}${ASCII_UPPER}`;
const FOLD_TO = `${PN_FOLD_TO.replace(/[A-Z]/g, (c) => c.toLowerCase())}${ASCII_UPPER.toLowerCase()}`;

export interface QueryMatchRow {
  metadata: DicomJson | string;
  studies: number | string;
  series: number | string;
  instances: number | string;
  modalities: string[] | null;
  sop_classes: string[] | null;
}

/** Adds a bind parameter and returns its placeholder. */
export type Bind = (value: unknown) => string;

export function binder(): { params: unknown[]; p: Bind } {
  const params: unknown[] = [];
  return {
    params,
    p: (v) => {
      params.push(v);
      return `$${params.length}`;
    },
  };
}

/** The SQL condition of one matching rule on the value expression `v` (PS3.4 C.2.2.2.1–C.2.2.2.5). */
export function ruleSql(v: string, rule: AttributeFilter['rule'], p: Bind): string {
  switch (rule.kind) {
    case 'single': return `${v} = ${p(rule.value)}`;
    case 'list': return `${v} = ANY(${p(rule.values)}::text[])`;
    case 'wildcard': return `${v} LIKE ${p(likePattern(rule.pattern))} ESCAPE '\\'`;
    case 'range': return [
      ...(rule.from !== undefined ? [`${v} COLLATE "C" >= ${p(rule.from)}`] : []),
      ...(rule.to !== undefined ? [`${v} COLLATE "C" <= ${p(rule.to)}`] : []),
    ].join(' AND ') || 'true';
  }
}

/** The value a filter compares in a dicom_instance row (`alias` qualifies its columns): a column, or the metadata's first value. */
export function instanceValueSql(f: AttributeFilter, p: Bind, alias = ''): string {
  const column = COLUMNS[f.tag];
  if (column && !f.personName) return `${alias}${column}`;
  if (!/^[0-9A-F]{8}$/.test(f.tag)) throw new Error(`invalid tag ${f.tag}`);
  return metadataValueSql(`${alias}metadata`, f.tag, f.personName, p);
}

/** The first value of `tag` in the DICOM JSON `metadata` expression, trimmed (PN: Alphabetic group, folded). */
export function metadataValueSql(metadata: string, tag: string, personName: boolean, p: Bind): string {
  const raw = personName ? `${metadata}->'${tag}'->'Value'->0->>'Alphabetic'` : `${metadata}->'${tag}'->'Value'->>0`;
  const value = `NULLIF(btrim(${raw}), '')`;
  return personName ? `translate(${value}, ${p(FOLD_FROM)}, ${p(FOLD_TO)})` : value;
}

export function instanceQuerySql(q: IndexQuery): { sql: string; params: unknown[] } {
  const { params, p } = binder();
  const conditions = q.filters.map((f) => ruleSql(instanceValueSql(f, p), f.rule, p));
  const entity = ENTITY[q.level];
  const key = entity.length === 1 ? entity[0] : `(${entity.join(', ')})`;
  const order = entity.map((e) => `${e} COLLATE "C"`).join(', ');
  const limit = q.limit !== undefined ? ` LIMIT ${p(q.limit)}` : '';
  const offset = q.offset ? ` OFFSET ${p(q.offset)}` : '';
  const sql = `
    WITH entity AS (
      SELECT ${entity.map((e, i) => `${e} AS k${i}`).join(', ')}, count(*) AS instances,
        count(DISTINCT study_instance_uid) AS studies, count(DISTINCT series_instance_uid) AS series,
        array_agg(DISTINCT metadata->'00080060'->'Value'->>0) FILTER (WHERE metadata->'00080060'->'Value'->>0 IS NOT NULL) AS modalities,
        array_agg(DISTINCT sop_class_uid) AS sop_classes,
        min(sop_instance_uid COLLATE "C") AS first_instance
      FROM dicom_instance
      WHERE ${key} IN (SELECT ${entity.join(', ')} FROM dicom_instance${conditions.length > 0 ? ` WHERE ${conditions.join(' AND ')}` : ''})
      GROUP BY ${entity.join(', ')}
      ORDER BY ${order}${limit}${offset}
    )
    SELECT i.metadata, e.studies, e.series, e.instances, e.modalities, e.sop_classes
    FROM entity e JOIN dicom_instance i ON i.sop_instance_uid = e.first_instance
    ORDER BY ${entity.map((_, i) => `e.k${i} COLLATE "C"`).join(', ')}`;
  return { sql, params };
}

const sorted = (xs: string[] | null): string[] => [...(xs ?? [])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));

export function toQueryMatch(r: QueryMatchRow): IndexQueryMatch {
  return {
    metadata: typeof r.metadata === 'string' ? JSON.parse(r.metadata) as DicomJson : r.metadata,
    studies: Number(r.studies), series: Number(r.series), instances: Number(r.instances),
    modalities: sorted(r.modalities), sopClasses: sorted(r.sop_classes),
  };
}
