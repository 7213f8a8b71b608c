// PS3.4 C.6.2.1 study- and patient-level queries over the dicom_study table of migration 006 (one row per study), and
// the statement that keeps dicom_study and dicom_series in step with each instance inserted. Answers are those of
// instance-query-sql.ts (grouping dicom_instance): a study whose instances disagree on a study or patient attribute
// (`inconsistent`) is matched instance by instance.
import type { AttributeFilter } from '../imaging/dicom-matching.js';
import type { IndexQuery } from '../store/instance-index.js';
import { binder, instanceValueSql, metadataValueSql, ruleSql, type Bind } from './instance-query-sql.js';

/** Study and patient attributes with a dicom_study column; `fromInstance`: copied from a dicom_instance column. */
const STUDY_COLUMNS: Record<string, { readonly column: string; readonly personName?: boolean; readonly fromInstance?: boolean }> = {
  '0020000D': { column: 'study_instance_uid', fromInstance: true },
  '00100020': { column: 'patient_id', fromInstance: true },
  '00100021': { column: 'issuer_of_patient_id', fromInstance: true },
  '00080050': { column: 'accession_number', fromInstance: true },
  '00100010': { column: 'patient_name', personName: true },
  '00100030': { column: 'patient_birth_date' },
  '00100040': { column: 'patient_sex' },
  '00080020': { column: 'study_date' },
  '00080030': { column: 'study_time' },
  '00200010': { column: 'study_id' },
  '00081030': { column: 'study_description' },
  '00080090': { column: 'referring_physician', personName: true },
};

/** Instance attributes a study row aggregates into an array: Modality (0008,0060) and SOP Class UID (0008,0016). */
const ARRAY_COLUMNS: Record<string, string> = { '00080060': 'modalities', '00080016': 'sop_classes' };

/** The attributes compared to tell an inconsistent study (all study columns but its UID). */
const COMPARED = Object.values(STUDY_COLUMNS).map((c) => c.column).filter((c) => c !== 'study_instance_uid');

/**
 * Whether dicom_study answers the query exactly: STUDY or PATIENT level, every filter on a study column (with the
 * same person-name folding) or on one aggregated array — two array filters would need one instance to pass both.
 */
function answerable(q: IndexQuery): boolean {
  if (q.level !== 'STUDY' && q.level !== 'PATIENT') return false;
  let arrays = 0;
  for (const f of q.filters) {
    if (ARRAY_COLUMNS[f.tag]) arrays++;
    else if (!STUDY_COLUMNS[f.tag] || !!STUDY_COLUMNS[f.tag].personName !== f.personName) return false;
  }
  return arrays <= 1;
}

function studyConditionSql(f: AttributeFilter, p: Bind): string {
  const array = ARRAY_COLUMNS[f.tag];
  if (!array) return ruleSql(STUDY_COLUMNS[f.tag].column, f.rule, p);
  if (f.rule.kind === 'single') return `${p(f.rule.value)} = ANY(${array})`;
  if (f.rule.kind === 'list') return `${array} && ${p(f.rule.values)}::text[]`;
  return `EXISTS (SELECT 1 FROM unnest(${array}) AS a(v) WHERE ${ruleSql('a.v', f.rule, p)})`;
}

const MATCH_COLUMNS = 'i.metadata, s.num_series AS series, s.num_instances AS instances, s.modalities, s.sop_classes';

/** The SQL of a query dicom_study answers, or undefined when only grouping the instances can (instance-query-sql.ts). */
export function studyQuerySql(q: IndexQuery): { sql: string; params: unknown[] } | undefined {
  if (!answerable(q)) return undefined;
  const { params, p } = binder();
  const consistent = ['NOT s.inconsistent', ...q.filters.map((f) => studyConditionSql(f, p))].join(' AND ');
  const instanceConditions = q.filters.map((f) => ruleSql(instanceValueSql(f, p, 'i.'), f.rule, p));
  const matchesAnInstance = `EXISTS (SELECT 1 FROM dicom_instance i WHERE i.study_instance_uid = s.study_instance_uid${instanceConditions.map((c) => ` AND ${c}`).join('')})`;
  const limit = q.limit !== undefined ? ` LIMIT ${p(q.limit)}` : '';
  const offset = q.offset ? ` OFFSET ${p(q.offset)}` : '';
  if (q.level === 'STUDY') {
    // Each branch is ordered and cut at offset + limit on its own index, so a page never reads past what it shows.
    const branchLimit = q.limit !== undefined ? ` LIMIT ${p(q.limit + (q.offset ?? 0))}` : '';
    const key = 's.study_instance_uid COLLATE "C"';
    return {
      params,
      sql: `
        WITH matched AS (
          (SELECT s.study_instance_uid FROM dicom_study s WHERE ${consistent} ORDER BY ${key}${branchLimit})
          UNION ALL
          (SELECT s.study_instance_uid FROM dicom_study s WHERE s.inconsistent AND ${matchesAnInstance} ORDER BY ${key}${branchLimit})
        ), page AS (SELECT study_instance_uid FROM matched ORDER BY study_instance_uid COLLATE "C"${limit}${offset})
        SELECT 1 AS studies, ${MATCH_COLUMNS}
        FROM page JOIN dicom_study s USING (study_instance_uid) JOIN dicom_instance i ON i.sop_instance_uid = s.first_instance
        ORDER BY ${key}`,
    };
  }
  // PATIENT: the patients with a matching study, answered over all their studies.
  const k0 = "coalesce(s.patient_id, '')";
  const k1 = "coalesce(s.issuer_of_patient_id, '')";
  const ofPatient = (column: string): string =>
    `(SELECT array_agg(DISTINCT v ORDER BY v) FROM dicom_study s, unnest(s.${column}) AS v WHERE ${k0} = e.k0 AND ${k1} = e.k1)`;
  return {
    params,
    sql: `
      WITH matched AS (
        SELECT ${k0} AS k0, ${k1} AS k1 FROM dicom_study s WHERE ${consistent}
        UNION
        SELECT ${k0}, ${k1} FROM dicom_study s WHERE s.inconsistent AND ${matchesAnInstance}
      ), entity AS (
        SELECT m.k0, m.k1, count(*) AS studies, sum(s.num_series) AS series, sum(s.num_instances) AS instances,
          min(s.first_instance COLLATE "C") AS first_instance
        FROM matched m JOIN dicom_study s ON ${k0} = m.k0 AND ${k1} = m.k1
        GROUP BY m.k0, m.k1
        ORDER BY m.k0 COLLATE "C", m.k1 COLLATE "C"${limit}${offset}
      )
      SELECT e.studies, e.series, e.instances, ${ofPatient('modalities')} AS modalities, ${ofPatient('sop_classes')} AS sop_classes, i.metadata
      FROM entity e JOIN dicom_instance i ON i.sop_instance_uid = e.first_instance
      ORDER BY e.k0 COLLATE "C", e.k1 COLLATE "C"`,
  };
}

/**
 * INSERT of one instance that also counts it into its series and study rows (migration 006), in one statement: the
 * series and study upserts lock their rows, so concurrent inserts of one study add up exactly. `$1…$15` are the
 * dicom_instance columns in `columns` order; `params` follow them. Returns the SOP Instance UID when the instance was new.
 */
export function insertInstanceSql(columns: string): { sql: string; params: unknown[] } {
  const { params, p } = binder();
  for (let n = 0; n < 15; n++) p(undefined); // the instance's own parameters come first
  const computed = Object.values(STUDY_COLUMNS).filter((c) => !c.fromInstance).map((c) => c.column);
  const tagOf = (column: string): string => Object.entries(STUDY_COLUMNS).find(([, c]) => c.column === column)?.[0] ?? '';
  const values = computed.map((c) => metadataValueSql('ins.metadata', tagOf(c), !!STUDY_COLUMNS[tagOf(c)].personName, p));
  const modality = metadataValueSql('ins.metadata', '00080060', false, p);
  const all = ['patient_id', 'issuer_of_patient_id', 'accession_number', ...computed];
  const takeFirst = all.map((c) => `${c} = CASE WHEN EXCLUDED.first_instance COLLATE "C" < s.first_instance COLLATE "C" THEN EXCLUDED.${c} ELSE s.${c} END`);
  const merge = (c: string): string =>
    `${c} = CASE WHEN EXCLUDED.${c} <@ s.${c} THEN s.${c} ELSE ARRAY(SELECT DISTINCT v FROM unnest(s.${c} || EXCLUDED.${c}) AS v ORDER BY 1) END`;
  return {
    params: params.slice(15),
    sql: `
    WITH ins AS (
      INSERT INTO dicom_instance (${columns})
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12, $13, $14, $15)
      ON CONFLICT (sop_instance_uid) DO NOTHING
      RETURNING sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid, patient_id, issuer_of_patient_id, accession_number, metadata
    ), ser AS (
      INSERT INTO dicom_series AS r (study_instance_uid, series_instance_uid, num_instances)
      SELECT study_instance_uid, series_instance_uid, 1 FROM ins
      ON CONFLICT (study_instance_uid, series_instance_uid) DO UPDATE SET num_instances = r.num_instances + 1
      RETURNING (xmax = 0) AS created
    ), stu AS (
      INSERT INTO dicom_study AS s (study_instance_uid, first_instance, num_series, num_instances, modalities, sop_classes, ${all.join(', ')})
      SELECT ins.study_instance_uid, ins.sop_instance_uid, (SELECT count(*) FROM ser WHERE created), 1,
        array_remove(ARRAY[${modality}]::text[], NULL), ARRAY[ins.sop_class_uid],
        ins.patient_id, ins.issuer_of_patient_id, ins.accession_number, ${values.join(', ')}
      FROM ins
      ON CONFLICT (study_instance_uid) DO UPDATE SET
        num_series = s.num_series + EXCLUDED.num_series, num_instances = s.num_instances + 1,
        ${merge('modalities')}, ${merge('sop_classes')},
        inconsistent = s.inconsistent OR ROW(${COMPARED.map((c) => `s.${c}`).join(', ')}) IS DISTINCT FROM ROW(${COMPARED.map((c) => `EXCLUDED.${c}`).join(', ')}),
        first_instance = CASE WHEN EXCLUDED.first_instance COLLATE "C" < s.first_instance COLLATE "C" THEN EXCLUDED.first_instance ELSE s.first_instance END,
        ${takeFirst.join(',\n        ')}
      RETURNING 1
    )
    SELECT sop_instance_uid FROM ins`,
  };
}
