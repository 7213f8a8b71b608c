// Task/$pacs-query and Task/$pacs-retrieve over HTTP against a real Orthanc as the requesting site's PACS: the kit's
// filters by C-FIND and QIDO-RS; retrieves by C-MOVE (Orthanc → our gateway), C-GET and WADO-RS as durable jobs whose
// progress shows on a Task; the study attached to the dossier; PACS down → retried with the error shown; a restart resumes.
import { expect } from 'chai';
import type { Bundle, ImagingStudy, OperationOutcome, Parameters, ParametersParameter, Task } from '@medplum/fhirtypes';
import { describeWithOrthanc, startOrthanc, type OrthancPeer } from '../dicom/test-orthanc.js';
import { generateStudy, type GeneratedStudy, type StudySpec } from '../dicom/test-pacs-studies.js';
import { IMAGE_SOURCE_URL } from '../workflow/teleexpertise/dossier-model.js';
import { progressOfTask } from '../workflow/imaging/retrieve-task.js';
import type { PacsDefinition } from '../workflow/imaging/pacs-port.js';
import { dossierClient, type DossierClient } from './test-dossier-client.js';
import { loadRegionalDirectory, type RegionalDirectory } from './test-regional-directory.js';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';

const IPP_CHIVA = 'urn:oid:1.2.250.1.999.9.1';
const SIMON: Omit<StudySpec, 'studyDate' | 'modality' | 'accessionNumber'> = { patientName: 'SIMON^Marie', patientId: '456', birthDate: '19600202', sex: 'F' };
const uidOf = (s: ImagingStudy) => s.identifier?.find((i) => i.system === 'urn:dicom:uid')?.value?.replace('urn:oid:', '');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

for (const backend of httpBackends()) {
  describeWithOrthanc(`PACS query/retrieve for a télédossier over HTTP (${backend})`, function () {
    this.timeout(90_000);
    let orthanc: OrthancPeer;
    let server: TestServer;
    let dir: RegionalDirectory;
    let api: DossierClient;
    let dossier: Task;
    const studies: Record<'ct' | 'mr' | 'us' | 'xr' | 'other', GeneratedStudy> = {} as never;

    const query = (params: ParametersParameter[], who = dir.actors.petit) =>
      api.call<Bundle>(who, 'POST', `/Task/${dossier.id}/$pacs-query`, { resourceType: 'Parameters', parameter: params });
    const found = async (params: ParametersParameter[]) => {
      const answer = await query(params);
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      return (answer.body.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => uidOf(e.resource as ImagingStudy)).sort();
    };
    const s = (name: string, value: string): ParametersParameter => ({ name, valueString: value });
    const retrieve = async (pacs: string, study: string): Promise<Task> => {
      const out = await api.expectStatus<Parameters>(202, dir.actors.petit, 'POST', `/Task/${dossier.id}/$pacs-retrieve`, {
        resourceType: 'Parameters', parameter: [s('pacs', pacs), { name: 'study', valueOid: `urn:oid:${study}` }],
      });
      return out.parameter?.[0].resource as Task;
    };
    const readTask = (id: string) => api.expectStatus<Task>(200, dir.actors.petit, 'GET', `/Task/${id}`);
    const finished = (id: string) => waitFor(`Task/${id} completed`, async () => {
      const t = await readTask(id);
      if (t.status === 'failed') throw new Error(`retrieve failed: ${t.statusReason?.text}`);
      return t.status === 'completed' ? t : undefined;
    });
    const pointOrthancAtUs = () => orthanc.setModality('teleo', { aeTitle: 'TELEO', host: '127.0.0.1', port: server.platform.dicomPort as number });

    /** The study is attached to the dossier, counted as a PACS import, with all its instances. */
    async function expectAttached(task: Task, study: GeneratedStudy): Promise<void> {
      const ref = String(progressOfTask(task)['imaging-study']);
      const imaging = await api.expectStatus<ImagingStudy>(200, dir.actors.petit, 'GET', `/${ref}`);
      expect(uidOf(imaging)).to.equal(study.studyInstanceUid);
      expect(imaging.numberOfInstances).to.equal(study.sopInstanceUids.length);
      expect(imaging.extension?.find((x) => x.url === IMAGE_SOURCE_URL)?.valueCode).to.equal('pacs-query');
      const current = await readTask(dossier.id as string);
      expect(current.input?.map((i) => i.valueReference?.reference)).to.include(ref);
    }

    before(async () => {
      orthanc = await startOrthanc();
      const peer = { aeTitle: orthanc.aeTitle, host: '127.0.0.1', port: orthanc.dicomPort };
      const pacs: PacsDefinition[] = [
        { name: 'CHIVA-MOVE', ...peer, query: 'c-find', retrieve: 'c-move' },
        { name: 'CHIVA-GET', ...peer, query: 'c-find', retrieve: 'c-get' },
        { name: 'CHIVA-WEB', ...peer, dicomwebUrl: orthanc.dicomWebUrl, query: 'qido-rs', retrieve: 'wado-rs' },
      ];
      server = await startTestServer(backend, { dicomPort: 0, pacs });
      await pointOrthancAtUs();
      dir = await loadRegionalDirectory(server);
      api = dossierClient(server);
      studies.ct = generateStudy({ ...SIMON, studyDate: '20250102', modality: 'CT', accessionNumber: 'ACC-100', instances: 3 });
      studies.mr = generateStudy({ ...SIMON, studyDate: '20250310', modality: 'MR', accessionNumber: 'ACC-200' });
      studies.us = generateStudy({ ...SIMON, studyDate: '20240620', modality: 'US', accessionNumber: 'ACC-300', instances: 1 });
      studies.xr = generateStudy({ ...SIMON, studyDate: '20230101', modality: 'CR', accessionNumber: 'ACC-400', instances: 2 });
      studies.other = generateStudy({ patientName: 'MARTIN^Paul', patientId: '999', birthDate: '19701120', studyDate: '20250105', modality: 'CT', accessionNumber: 'ACC-900' });
      await orthanc.upload(...Object.values(studies).flatMap((st) => st.files));
      dossier = await api.createTeledossier(dir.actors.petit, [
        { name: 'patient', part: [{ name: 'ipp', valueIdentifier: { system: IPP_CHIVA, value: '456' } }, s('family', 'SIMON'),
          s('given', 'Marie'), { name: 'birthDate', valueDate: '1960-02-02' }, { name: 'gender', valueCode: 'female' }] },
        { name: 'workflow', valueCode: 'transfert-imagerie' }, { name: 'requester', valueReference: { reference: dir.actors.robert.role } },
        { name: 'author', valueReference: { reference: dir.actors.petit.role } }, { name: 'owner', valueReference: { reference: dir.community('rcpOnco') } },
      ]);
    });

    after(async () => {
      await server?.close();
      await orthanc?.close();
    });

    describe('Task/$pacs-query', () => {
      it('without filters searches the dossier\'s patient (by IPP) and lists ImagingStudy-shaped matches', async () => {
        const answer = await api.expectStatus<Bundle>(200, dir.actors.petit, 'GET', `/Task/${dossier.id}/$pacs-query?pacs=CHIVA-MOVE`);
        const listed = (answer.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource as ImagingStudy);
        expect(listed.map(uidOf).sort()).to.deep.equal([studies.ct, studies.mr, studies.us, studies.xr].map((st) => st.studyInstanceUid).sort());
        const ct = listed.find((st) => uidOf(st) === studies.ct.studyInstanceUid) as ImagingStudy;
        expect(ct).to.deep.include({ started: '2025-01-02T10:15:00', numberOfInstances: 3, description: 'CT 20250102' });
        expect(ct.modality?.map((m) => m.code)).to.deep.equal(['CT']);
        expect(ct.identifier?.find((i) => i.type?.coding?.[0].code === 'ACSN')?.value).to.equal('ACC-100');
        const info = answer.entry?.find((e) => e.search?.mode === 'outcome')?.resource as OperationOutcome;
        expect(info.issue[0].details?.text).to.contain('patientId=456');
        // The query of patient data is audited (PS3.15 A.5.3.12 Query), naming the dossier and the studies answered.
        const audit = await waitFor('the query AuditEvent', async () => {
          const b = await api.search('system', `AuditEvent?subtype=http://dicom.nema.org/resources/ontology/DCM|110112&entity=Task/${dossier.id}`);
          return b.entry?.length ? b.entry[0].resource as { agent: { who?: { reference?: string } }[]; entity?: { what?: { reference?: string } }[] } : undefined;
        });
        expect(audit.agent[0].who?.reference).to.equal(dir.actors.petit.practitioner);
        expect(audit.entity?.map((e) => e.what?.reference)).to.include(`urn:oid:${studies.ct.studyInstanceUid}`);
      });

      it('filters by patient name, birth date, identifier, exam date and range, modality and accession / appointment number', async () => {
        const ours = [studies.ct, studies.mr, studies.us, studies.xr].map((st) => st.studyInstanceUid).sort();
        expect(await found([s('pacs', 'CHIVA-MOVE'), s('patient-name', 'simon')])).to.deep.equal(ours);
        expect(await found([s('pacs', 'CHIVA-MOVE'), { name: 'birth-date', valueDate: '1970-11-20' }])).to.deep.equal([studies.other.studyInstanceUid]);
        expect(await found([s('pacs', 'CHIVA-MOVE'), s('identifier', '999')])).to.deep.equal([studies.other.studyInstanceUid]);
        expect(await found([s('pacs', 'CHIVA-MOVE'), { name: 'exam-date', valueDate: '2024-06-20' }])).to.deep.equal([studies.us.studyInstanceUid]);
        expect(await found([s('pacs', 'CHIVA-MOVE'), s('identifier', '456'), { name: 'exam-date-from', valueDate: '2025-01-01' }]))
          .to.deep.equal([studies.ct.studyInstanceUid, studies.mr.studyInstanceUid].sort());
        expect(await found([s('pacs', 'CHIVA-MOVE'), { name: 'exam-date-to', valueDate: '2023-12-31' }])).to.deep.equal([studies.xr.studyInstanceUid]);
        expect(await found([s('pacs', 'CHIVA-MOVE'), s('modality', 'mr')])).to.deep.equal([studies.mr.studyInstanceUid]);
        expect(await found([s('pacs', 'CHIVA-MOVE'), s('accession', 'ACC-300')])).to.deep.equal([studies.us.studyInstanceUid]);
        expect(await found([s('pacs', 'CHIVA-MOVE'), s('appointment-number', 'ACC-900')])).to.deep.equal([studies.other.studyInstanceUid]);
      });

      it('queries a PACS configured for QIDO-RS the same way', async () => {
        expect(await found([s('pacs', 'CHIVA-WEB'), s('modality', 'CT')])).to.deep.equal([studies.ct.studyInstanceUid, studies.other.studyInstanceUid].sort());
        expect(await found([s('pacs', 'CHIVA-WEB'), s('patient-name', 'SIM*'), { name: 'exam-date', valueDate: '2025-03-10' }])).to.deep.equal([studies.mr.studyInstanceUid]);
      });

      it('names the problem: several PACS and none chosen, an unknown PACS, a bad date', async () => {
        for (const [params, text] of [[[], /Several PACS/], [[s('pacs', 'NOPE')], /Unknown PACS .*NOPE/],
          [[s('pacs', 'CHIVA-MOVE'), s('exam-date', '02/01/2025')], /exam-date must be a date/]] as const) {
          const answer = await query([...params]);
          expect(answer.status).to.equal(400);
          expect(JSON.stringify(answer.body)).to.match(text);
        }
      });

      it('is for those who may write the dossier: hidden from non-participants, refused without Task write scope', async () => {
        const stranger = await query([s('pacs', 'CHIVA-MOVE')], dir.actors.lefebvre);
        expect(stranger.status).to.equal(404);
        const readOnly = await server.token({ fhirUser: dir.actors.petit.practitioner, role: dir.actors.petit.role, scope: 'user/*.rs' });
        expect((await query([s('pacs', 'CHIVA-MOVE')], { ...dir.actors.petit, token: readOnly })).status).to.equal(403);
        const retrieveAnswer = await api.call(dir.actors.lefebvre, 'POST', `/Task/${dossier.id}/$pacs-retrieve`, {
          resourceType: 'Parameters', parameter: [s('pacs', 'CHIVA-MOVE'), s('study', studies.ct.studyInstanceUid)],
        });
        expect(retrieveAnswer.status).to.equal(404);
      });
    });

    describe('Task/$pacs-retrieve', () => {
      it('by C-MOVE: a retrieve Task shows the progress, the PACS sends to our gateway, the study is attached', async () => {
        const task = await retrieve('CHIVA-MOVE', studies.ct.studyInstanceUid);
        expect(task).to.deep.include({ status: 'requested', partOf: [{ reference: `Task/${dossier.id}` }] });
        const done = await finished(task.id as string);
        expect(progressOfTask(done)).to.include({ 'instances-total': 3, 'instances-completed': 3, 'instances-failed': 0, attempts: 1 });
        expect(done.businessStatus?.coding?.[0].code).to.equal('done');
        // Progress was written while it ran: an in-progress version with the total known.
        const history = await api.expectStatus<Bundle>(200, dir.actors.petit, 'GET', `/Task/${task.id}/_history`);
        const running = (history.entry ?? []).map((e) => e.resource as Task).filter((t) => t.status === 'in-progress');
        expect(running.length).to.be.at.least(1);
        expect(running.some((t) => progressOfTask(t)['instances-total'] === 3)).to.equal(true);
        await expectAttached(done, studies.ct);
        // The dossier's request announces the study.
        const request = await api.expectStatus<{ identifier?: { system?: string; value?: string }[] }>(200, 'system', 'GET', `/${dossier.focus?.reference}`);
        expect(request.identifier?.map((i) => i.value)).to.include(`urn:oid:${studies.ct.studyInstanceUid}`);
      });

      it('by C-GET', async () => {
        const done = await finished((await retrieve('CHIVA-GET', studies.mr.studyInstanceUid)).id as string);
        expect(progressOfTask(done)).to.include({ 'instances-total': 2, 'instances-completed': 2 });
        await expectAttached(done, studies.mr);
      });

      it('by WADO-RS (Orthanc\'s DICOMweb plugin)', async () => {
        const done = await finished((await retrieve('CHIVA-WEB', studies.us.studyInstanceUid)).id as string);
        expect(progressOfTask(done)).to.include({ 'instances-total': 1, 'instances-completed': 1 });
        await expectAttached(done, studies.us);
      });

      it('PACS down: the job is retried and the Task shows the last error; a platform restart resumes it; it completes once the PACS is back', async () => {
        await orthanc.stop();
        const task = await retrieve('CHIVA-MOVE', studies.xr.studyInstanceUid);
        const retrying = await waitFor('a failed attempt', async () => {
          const t = await readTask(task.id as string);
          return t.businessStatus?.coding?.[0].code === 'retry-scheduled' ? t : undefined;
        });
        expect(retrying.status).to.equal('in-progress');
        expect(retrying.statusReason?.text).to.match(/unreachable|ECONNREFUSED|connect/i);
        expect(progressOfTask(retrying).attempts).to.be.at.least(1);
        const [job] = (await server.platform.storage.jobs.list({ type: 'pacs-retrieve' })).filter((j) => j.payload.task === task.id);
        expect(job).to.deep.include({ status: 'pending' });
        expect(job.lastError).to.match(/unreachable|ECONNREFUSED|connect/i);

        await server.restart();
        await orthanc.start();
        await pointOrthancAtUs(); // the restarted gateway listens on a new port
        const done = await finished(task.id as string);
        expect(progressOfTask(done)['attempts']).to.be.at.least(2);
        expect(done.statusReason).to.equal(undefined);
        await expectAttached(done, studies.xr);
      });
    });
  });
}
