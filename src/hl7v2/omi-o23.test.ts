import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hl7Message } from '@medplum/core';
import type { Observation, ServiceRequest, Task } from '@medplum/fhirtypes';
import { expect } from 'chai';
import { OperationOutcomeError, statusOf } from '../kernel/errors.js';
import { openPostgresStorage } from '../postgres/postgres-storage.js';
import { findRequest, openDossierOf } from '../workflow/imaging/study-attachment.js';
import { RETENTION_EXTENSION, VIEWER_URL_EXTENSION } from '../workflow/teleradiologie/exam-complement.js';
import { applyTransition } from '../workflow/teleexpertise/transition.js';
import { createPlatform, ctxOf, PRINCIPALS, PROTOCOL, registry, type Platform } from '../workflow/teleexpertise/test-directory.js';
import { readComplement, readIpc } from './omi-o23.js';
import { deliver, FIXTURES, partnerCtx, RIS } from './tlr-test-delivery.js';

const SHARED = join(process.cwd(), '..', 'shared', 'fixtures');
const ANS_FLUX4 = join(SHARED, 'ansforge-teleradiologie-hl7v2', 'flux4_OMI_O23_SR_complement_post_acte.hl7');
const DRIM_OMI = join(SHARED, 'ansforge-drim-m-data', 'OMI_O23-ImagingOrder.hl7');
const FLUX1 = readFileSync(join(FIXTURES, 'ORM_O01', 'flux1-nw-ok.hl7'), 'utf8');
const FLUX4 = readFileSync(join(FIXTURES, 'OMI_O23', 'flux4-sr-ok.hl7'), 'utf8');
const ctx = partnerCtx(RIS);

async function task(p: Platform): Promise<Task> {
  return (await p.svc.search(ctx, 'Task', { code: ['teleradiologie'] })).resources[0] as Task;
}

/** A dossier from flux 1, accepted by its requis (flux 3 would be sent from there). */
async function accepted(): Promise<Platform> {
  const p = await createPlatform();
  await deliver(p, FLUX1);
  await applyTransition({ svc: p.svc }, ctxOf(PRINCIPALS.requis), (await task(p)).id as string, 'accepter', { protocol: PROTOCOL });
  return p;
}

async function refusal(promise: Promise<unknown>): Promise<{ status: number; code?: string; location?: string; text: string }> {
  try {
    await promise;
  } catch (e) {
    expect(e).to.be.instanceOf(OperationOutcomeError);
    const o = (e as OperationOutcomeError).outcome;
    return { status: statusOf(o), code: o.issue?.[0]?.details?.coding?.[0]?.code, location: o.issue?.[0]?.expression?.[0], text: o.issue?.[0]?.details?.text ?? '' };
  }
  throw new Error('expected a refusal');
}

describe('OMI^O23 flux 4 (SR): exam complement', () => {
  it('writes the accession number and Study Instance UID where arriving studies look for their request', async () => {
    const p = await accepted();
    await deliver(p, FLUX4);
    const t = await task(p);
    const byUid = await findRequest(p.svc, ctx, { studyInstanceUid: '1.2.250.1.213.4.5.2.1.101' });
    expect(`ServiceRequest/${byUid?.id}`).to.equal(t.focus?.reference);
    // a study with another UID but the announced accession number (same issuer) finds it too
    const byAccession = await findRequest(p.svc, ctx, { studyInstanceUid: '1.2.3.4', accessionNumber: 'ACN101', accessionIssuer: 'urn:oid:1.2.250.1.925.994044.27' });
    expect(byAccession?.id).to.equal(byUid?.id);
    expect(await findRequest(p.svc, ctx, { studyInstanceUid: '1.2.3.4', accessionNumber: 'ACN101', accessionIssuer: 'urn:oid:9.9.9' })).to.equal(undefined);
    expect((await openDossierOf(p.svc, ctx, t.focus?.reference as string))?.id).to.equal(t.id);
  });

  it('records viewer URL (decoded), exam date, retention, requested procedure, products and devices, then reports the exam done', async () => {
    const p = await accepted();
    const result = await deliver(p, FLUX4);
    const t = await task(p);
    expect(t.businessStatus?.coding?.[0].code).to.equal('examen-realise');
    const sr = await p.svc.read<ServiceRequest>(ctx, 'ServiceRequest', (t.focus?.reference ?? '').split('/')[1]);
    expect(sr.extension?.find((e) => e.url === VIEWER_URL_EXTENSION)?.valueString).to.equal('/viewer?studyUID=1.2.250.1.213.4.5.2.1.101&accessionNumber=ACN101');
    expect(sr.extension?.find((e) => e.url === RETENTION_EXTENSION)?.valueDuration).to.deep.equal({ value: 730, unit: 'jours', system: 'http://unitsofmeasure.org', code: 'd' });
    expect(sr.occurrenceDateTime).to.equal('2026-01-06T18:44:18+01:00');
    expect(sr.identifier?.find((i) => i.type?.text === 'Requested Procedure ID')).to.deep.include({ system: 'urn:oid:2.16.840.1.113883.6.1', value: '24590-2' });
    expect(sr.orderDetail?.flatMap((c) => c.coding?.map((x) => x.code))).to.include.members(['MR', '24590-2']);
    expect(sr.orderDetail?.filter((c) => c.coding?.[0].code === 'MR')).to.have.length(1);
    const obs = (await p.svc.search(ctx, 'Observation', { 'based-on': [`ServiceRequest/${sr.id}`], code: ['PRODUIT_ADMINISTRE,APPAREIL_IMAGERIE'] })).resources as Observation[];
    const product = obs.find((o) => o.code.coding?.[0].code === 'PRODUIT_ADMINISTRE');
    expect(product?.valueCodeableConcept?.coding?.[0]).to.deep.include({ system: 'http://www.whocc.no/atc', code: 'V09' });
    expect(product?.component?.map((c) => c.valueString ?? c.valueQuantity?.value)).to.deep.equal(['0123456789', 1]);
    const device = obs.find((o) => o.code.coding?.[0].code === 'APPAREIL_IMAGERIE');
    expect(device?.component?.map((c) => c.valueString)).to.deep.equal(['1234567896363', 'Modèle']);
    expect(result.written).to.include(`Task/${t.id}`);
  });

  it('takes a repeated complement after the exam as a correction: no transition, identifiers not duplicated', async () => {
    const p = await accepted();
    await deliver(p, FLUX4);
    const again = await deliver(p, FLUX4.replace('TLR-F4-OK', 'TLR-F4-AGAIN'));
    expect(again.note).to.match(/stays 'examen-realise'/);
    const sr = await p.svc.read<ServiceRequest>(ctx, 'ServiceRequest', ((await task(p)).focus?.reference ?? '').split('/')[1]);
    expect(sr.identifier?.filter((i) => i.type?.coding?.[0].code === 'ACSN')).to.have.length(1);
    expect(sr.identifier?.filter((i) => i.system === 'urn:dicom:uid')).to.have.length(1);
  });

  (existsSync(ANS_FLUX4) ? it : it.skip)('refuses the ANS flux 4 example as published: its viewer URL is not base64 (AE 102 at OBX[1]-5)', async () => {
    const p = await accepted();
    const r = await refusal(deliver(p, readFileSync(ANS_FLUX4, 'utf8')));
    expect(r).to.deep.include({ status: 400, code: '102', location: 'OBX[1]-5' });
    expect(r.text).to.match(/Penfhghdegge/);
    expect((await task(p)).businessStatus?.coding?.[0].code).to.equal('acceptee');
  });

  (existsSync(DRIM_OMI) ? it : it.skip)('reads the DRIM-M OMI^O23 IPC, and refuses it as a flux 4: its ORC-1 is NW (103 at ORC-1)', async () => {
    const message = Hl7Message.parse(readFileSync(DRIM_OMI, 'utf8'));
    const ipc = readIpc(message);
    expect(ipc.accession).to.deep.equal({ value: '105234751' });
    expect(ipc.studyInstanceUid).to.equal('1.2.250.1.213.4.5.2.1.101');
    expect(ipc.requestedProcedure).to.deep.equal({ value: 'RequestedProcID' });
    expect(ipc.scheduledStep).to.deep.equal({ value: 'ScheduledProcStepID' });
    expect(ipc.modality?.coding?.[0]).to.deep.equal({ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' });
    const r = await refusal(Promise.resolve().then(() => readComplement(message, { partner: RIS })));
    expect(r).to.deep.include({ code: '103', location: 'ORC-1' });
  });

  it('runs flux 1, acceptance and flux 4 end to end on PGlite (meta.source, identifiers and locks on PostgreSQL)', async function () {
    this.timeout(120_000);
    const dir = await mkdtemp(join(tmpdir(), 'tlr-pglite-'));
    const { storage } = await openPostgresStorage(registry, { pgliteDir: dir });
    try {
      const p = await createPlatform(storage);
      await deliver(p, FLUX1);
      expect((await refusal(deliver(p, FLUX1.replace('TLR-F1-OK', 'TLR-F1-DUP')))).code).to.equal('205');
      await applyTransition({ svc: p.svc }, ctxOf(PRINCIPALS.requis), (await task(p)).id as string, 'accepter', { protocol: PROTOCOL });
      await deliver(p, FLUX4);
      const t = await task(p);
      expect(t.businessStatus?.coding?.[0].code).to.equal('examen-realise');
      const sr = await findRequest(p.svc, ctx, { studyInstanceUid: '1.2.250.1.213.4.5.2.1.101' });
      expect(sr?.meta?.source).to.equal('urn:teleo:hl7v2-partner:ris-test');
    } finally {
      await storage.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
