// Study-level C-FIND / QIDO-RS queries (PS3.4 C.6.2.1) against the instance index with N studies × M instances,
// seeded in bulk SQL: the study table of migration 006 versus grouping every instance (the path before it).
import { instanceQuerySql } from '../src/postgres/instance-query-sql.js';
import { studyQuerySql } from '../src/postgres/study-query-sql.js';
import { listMigrations, migrate } from '../src/postgres/migrations.js';
import { createPostgresInstanceIndex } from '../src/postgres/postgres-instance-index.js';
import type { SqlClient } from '../src/postgres/sql-client.js';
import { filterOf, type AttributeFilter } from '../src/imaging/dicom-matching.js';
import type { DicomJson } from '../src/imaging/dicom-json.js';
import type { IndexQuery } from '../src/store/instance-index.js';
import { prepareBackend, versionOf } from './lib/backend.js';
import { COMMON_USAGE, parseBenchArgs } from './lib/cli.js';
import { fmt, log, printTable, summarize, verdict, type Row } from './lib/stats.js';

const USAGE = `Usage: npm run bench:dicom-index -- [options]

Seeds DICOM instances in bulk SQL (before migration 006, then applies it: its backfill is timed), then times study-level
queries through InstanceIndex.query (what C-FIND and QIDO-RS run), limit 100, and the same queries by grouping instances.

${COMMON_USAGE}
  --studies <n>        studies to seed (default 100000); 2 series and --per-study instances each; 2 studies a patient
  --per-study <n>      instances per study (default 10)
  --queries <n>        runs of each query per repetition (default 50)
  --grouped <0|1>      also time the grouping path (slow at 1M instances: 3 runs each) (default 1)
  --print-plans <0|1>  print EXPLAIN (ANALYZE, BUFFERS) of each query's SQL (default 0)`;

const args = parseBenchArgs(USAGE, { studies: 100_000, 'per-study': 10, queries: 50, grouped: 1, 'print-plans': 0 });
const STUDIES = args.num.studies;
const PER_STUDY = args.num['per-study'];

const FAMILY = ['MARTIN', 'BERNARD', 'DUBOIS', 'THOMAS', 'ROBERT', 'RICHARD', 'PETIT', 'DURAND', 'LEROY', 'MOREAU', 'SIMON',
  'LAURENT', 'LEFÈVRE', 'MICHEL', 'GARCIA', 'DAVID', 'BERTRAND', 'ROUX', 'VINCENT', 'FOURNIER', 'MOREL', 'GIRARD', 'ANDRÉ',
  'DUPONT', 'MERCIER', 'BLANC', 'GUÉRIN', 'BOYER', 'GARNIER', 'CHEVALIER'];
const GIVEN = ['Jean', 'Marie', 'Hélène', 'Pierre', 'Élodie', 'Louis', 'Chloé', 'Paul', 'Camille', 'Noël', 'Inès', 'Hugo'];
const MODALITIES = ['CT', 'MR', 'US', 'CR', 'DX', 'PT', 'MG', 'XA'];

/** Seeds `STUDIES` studies in batches; study s belongs to patient s/2; its date walks 2015–2025. */
async function seed(db: SqlClient): Promise<void> {
  const batch = Math.max(1, Math.floor(50_000 / PER_STUDY));
  for (let from = 0; from < STUDIES; from += batch) {
    const to = Math.min(STUDIES, from + batch) - 1;
    await db.query(`
      INSERT INTO dicom_instance (sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid,
        blob_key, blob_size, patient_id, issuer_of_patient_id, accession_number, metadata, calling_ae, called_ae, received_at)
      SELECT sop, cls, study, series, '1.2.840.10008.1.2.1', 'sha256-' || md5(sop), 525644, pid, 'CHU-T', 'ACC' || s,
        jsonb_build_object(
          '00080005', jsonb_build_object('vr', 'CS', 'Value', jsonb_build_array('ISO_IR 192')),
          '00080016', jsonb_build_object('vr', 'UI', 'Value', jsonb_build_array(cls)),
          '00080018', jsonb_build_object('vr', 'UI', 'Value', jsonb_build_array(sop)),
          '00080020', jsonb_build_object('vr', 'DA', 'Value', jsonb_build_array(to_char(date '2015-01-01' + (s % 3650), 'YYYYMMDD'))),
          '00080030', jsonb_build_object('vr', 'TM', 'Value', jsonb_build_array('101500')),
          '00080050', jsonb_build_object('vr', 'SH', 'Value', jsonb_build_array('ACC' || s)),
          '00080060', jsonb_build_object('vr', 'CS', 'Value', jsonb_build_array(modality)),
          '00080090', jsonb_build_object('vr', 'PN', 'Value', jsonb_build_array(jsonb_build_object('Alphabetic', 'PRESCRIPTEUR^Anne'))),
          '00081030', jsonb_build_object('vr', 'LO', 'Value', jsonb_build_array('Examen ' || study_modality)),
          '0008103E', jsonb_build_object('vr', 'LO', 'Value', jsonb_build_array('Série ' || (i % 2 + 1))),
          '00100010', jsonb_build_object('vr', 'PN', 'Value', jsonb_build_array(jsonb_build_object('Alphabetic', name))),
          '00100020', jsonb_build_object('vr', 'LO', 'Value', jsonb_build_array(pid)),
          '00100030', jsonb_build_object('vr', 'DA', 'Value', jsonb_build_array(to_char(date '1940-01-01' + (s / 2 % 20000), 'YYYYMMDD'))),
          '00100040', jsonb_build_object('vr', 'CS', 'Value', jsonb_build_array(CASE WHEN s / 2 % 2 = 0 THEN 'F' ELSE 'M' END)),
          '0020000D', jsonb_build_object('vr', 'UI', 'Value', jsonb_build_array(study)),
          '0020000E', jsonb_build_object('vr', 'UI', 'Value', jsonb_build_array(series)),
          '00200011', jsonb_build_object('vr', 'IS', 'Value', jsonb_build_array(i % 2 + 1)),
          '00200013', jsonb_build_object('vr', 'IS', 'Value', jsonb_build_array(i + 1)),
          '00280010', jsonb_build_object('vr', 'US', 'Value', jsonb_build_array(512)),
          '00280011', jsonb_build_object('vr', 'US', 'Value', jsonb_build_array(512))),
        'MODALITY', 'TELEO', now()
      FROM (
        SELECT s, i, '2.25.9.' || s AS study, '2.25.9.' || s || '.' || (i % 2 + 1) AS series, '2.25.9.' || s || '.' || (i % 2 + 1) || '.' || i AS sop,
          CASE WHEN i % 2 = 0 THEN '1.2.840.10008.5.1.4.1.1.2' ELSE '1.2.840.10008.5.1.4.1.1.4' END AS cls,
          (${sqlArray(MODALITIES)})[1 + (s + i % 2) % ${MODALITIES.length}] AS modality,
          (${sqlArray(MODALITIES)})[1 + s % ${MODALITIES.length}] AS study_modality,
          'P' || lpad((s / 2)::text, 7, '0') AS pid,
          (${sqlArray(FAMILY)})[1 + (s / 2) % ${FAMILY.length}] || '^' || (${sqlArray(GIVEN)})[1 + (s / 2 / ${FAMILY.length}) % ${GIVEN.length}] AS name
        FROM generate_series(${from}::int, ${to}::int) AS s, generate_series(0, ${PER_STUDY - 1}) AS i
      ) g`);
    if ((from / batch) % 20 === 0) log(`  seeded ${to + 1} studies`);
  }
}

const sqlArray = (xs: readonly string[]): string => `ARRAY[${xs.map((x) => `'${x.replace(/'/g, "''")}'`).join(', ')}]`;

function q(name: string, keys: Record<string, DicomJson[string]>): { name: string; query: IndexQuery } {
  const filters = Object.entries(keys).map(([tag, attr]) => filterOf(tag, attr)).filter((f): f is AttributeFilter => f !== undefined);
  return { name, query: { level: 'STUDY', filters, limit: 100 } };
}

const QUERIES = [
  q('all studies (first page)', {}),
  q('PatientName=dup*', { '00100010': { vr: 'PN', Value: [{ Alphabetic: 'dup*' }] } }),
  q('PatientName=LEFÈVRE^Hélène', { '00100010': { vr: 'PN', Value: [{ Alphabetic: 'LEFÈVRE^Hélène' }] } }),
  q('PatientID exact', { '00100020': { vr: 'LO', Value: ['P0012345'] } }),
  q('StudyDate one month', { '00080020': { vr: 'DA', Value: ['20200301-20200331'] } }),
  q('Modality MR + StudyDate one year', { '00080060': { vr: 'CS', Value: ['MR'] }, '00080020': { vr: 'DA', Value: ['20190101-20191231'] } }),
  q('AccessionNumber exact', { '00080050': { vr: 'SH', Value: [`ACC${Math.floor(STUDIES / 3)}`] } }),
  q('StudyInstanceUID exact', { '0020000D': { vr: 'UI', Value: [`2.25.9.${Math.floor(STUDIES / 2)}`] } }),
  q('PatientName=mar* + BirthDate range', { '00100010': { vr: 'PN', Value: [{ Alphabetic: 'mar*' }] }, '00100030': { vr: 'DA', Value: ['19500101-19601231'] } }),
];

async function time(fn: () => Promise<unknown>, n: number): Promise<{ ms: number[]; rows: number }> {
  const ms: number[] = [];
  let rows = 0;
  for (let k = 0; k < n; k++) {
    const t0 = process.hrtime.bigint();
    const r = await fn();
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
    rows = Array.isArray(r) ? r.length : 0;
  }
  return { ms, rows };
}

for (const name of args.backends) {
  const backend = await prepareBackend(name, args.databaseUrl, 'dicomidx');
  const db = await backend.open();
  try {
    await migrate(db, listMigrations().filter((m) => m.version < 6));
    log(`${name} ${await versionOf(db)}: seeding ${STUDIES} studies × ${PER_STUDY} instances`);
    const t0 = Date.now();
    await seed(db);
    const seedS = (Date.now() - t0) / 1000;
    const t1 = Date.now();
    await migrate(db);
    const backfillS = (Date.now() - t1) / 1000;
    await db.query('ANALYZE');
    const [{ n }] = await db.query<{ n: string }>('SELECT count(*) AS n FROM dicom_instance');
    log(`${name}: ${n} instances in ${fmt(seedS)} s; migration 006 backfill ${fmt(backfillS)} s`);
    const index = createPostgresInstanceIndex(db);
    const rows: Row[] = [];
    let worst = 0;
    for (const { name: qn, query } of QUERIES) {
      const reps = [];
      for (let r = 0; r < args.reps; r++) reps.push(await time(() => index.query(query), args.num.queries));
      const all = summarize(reps.flatMap((x) => x.ms));
      if (args.num['print-plans']) {
        const { sql, params } = studyQuerySql(query) ?? instanceQuerySql(query);
        const plan = await db.query<Record<string, string>>(`EXPLAIN (ANALYZE, BUFFERS) ${sql}`, params);
        log(`plan of ${qn}:\n${plan.map((r) => Object.values(r)[0]).join('\n')}`);
      }
      worst = Math.max(worst, all.p95);
      let grouped = '–';
      if (args.num.grouped) {
        const { sql, params } = instanceQuerySql(query);
        const g = await time(() => db.query(sql, params), 3);
        const same = g.rows === reps[0].rows ? '' : ` (rows ${g.rows}!)`;
        grouped = `${fmt(summarize(g.ms).p50)}${same}`;
      }
      rows.push([qn, String(reps[0].rows), fmt(all.p50), fmt(all.p95), grouped]);
    }
    printTable(`${name}: study-level queries, ${n} instances / ${STUDIES} studies, limit 100 (${args.reps} × ${args.num.queries} runs)`,
      ['query', 'studies', 'p50 ms', 'p95 ms', 'grouping instances p50 ms'], rows);
    log(`${name}: worst p95 ${fmt(worst)} ms → target < 20 ms ${verdict(worst < 20)}`);
  } finally {
    await db.close();
    await backend.cleanup();
  }
}
