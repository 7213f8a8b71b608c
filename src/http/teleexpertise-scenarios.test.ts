// End-to-end téléexpertise scenarios over FHIR REST, replaying the seeds (CCTP annex 4 use cases, ORTIF kit): each
// actor calls with their own user token, as their DPI would; each step checks what it changes for whom.
import { expect } from 'chai';
import type {
  Bundle, ChargeItem, Communication, DiagnosticReport, Encounter, ImagingStudy, ParametersParameter, Provenance, Task,
} from '@medplum/fhirtypes';
import { httpBackends, startTestServer, type TestServer } from './test-server.js';
import { loadRegionalDirectory, type RegionalDirectory } from './test-regional-directory.js';
import { dossierClient, matches, recipientsOf, type DossierClient } from './test-dossier-client.js';
import { receiptsOf } from '../workflow/teleexpertise/read-receipts.js';
import { DOSSIER_STATUS_SYSTEM } from '../workflow/teleexpertise/workflow-definition.js';
import { IMAGE_SOURCE_URL } from '../workflow/teleexpertise/dossier-model.js';

const IPP_CHIVA = 'urn:oid:1.2.250.1.999.9.1';
const PDF = Buffer.from('%PDF-1.4 courrier de demande d\'avis').toString('base64');

/** Jean Martin (01/01/1980), the seeds' patient, with his INS and his IPP at the CHIVA. */
const JEAN_MARTIN: ParametersParameter = { name: 'patient', part: [
  { name: 'ins', valueString: '180017512345678' }, { name: 'ipp', valueIdentifier: { system: IPP_CHIVA, value: '123' } },
  { name: 'family', valueString: 'MARTIN' }, { name: 'given', valueString: 'Jean' },
  { name: 'birthDate', valueDate: '1980-01-01' }, { name: 'gender', valueCode: 'male' },
] };
const ref = (name: string, reference: string): ParametersParameter => ({ name, valueReference: { reference } });
const text = (name: string, value: string): ParametersParameter => ({ name, valueString: value });
const state = (t: Task) => `${t.status}/${t.businessStatus?.coding?.find((c) => c.system === DOSSIER_STATUS_SYSTEM)?.code}`;
/** "lu par Dr DURAND le 08/08/2024 à 05:34", as the requérant's DPI shows a receipt (Paris time). */
const readLine = (display: string | undefined, time: string) => {
  const at = new Date(time);
  const fmt = (o: Intl.DateTimeFormatOptions) => new Intl.DateTimeFormat('fr-FR', { timeZone: 'Europe/Paris', ...o }).format(at);
  return `lu par ${display} le ${fmt({ day: '2-digit', month: '2-digit', year: 'numeric' })} à ${fmt({ hour: '2-digit', minute: '2-digit' })}`;
};

for (const backend of httpBackends()) {
  describe(`téléexpertise scenarios over HTTP (${backend})`, () => {
    let server: TestServer;
    let dir: RegionalDirectory;
    let api: DossierClient;
    const ok = async (p: Promise<{ status: number; body: Task }>) => {
      const answer = await p;
      expect(answer.status, JSON.stringify(answer.body)).to.equal(200);
      return answer.body;
    };

    before(async () => {
      server = await startTestServer(backend);
      dir = await loadRegionalDirectory(server);
      api = dossierClient(server);
    });
    after(() => server?.close());

    /** A final CR (DiagnosticReport based on the dossier's ServiceRequest) written by `who`. */
    const report = (who: keyof RegionalDirectory['actors'], task: Task, conclusion: string) =>
      api.expectStatus<DiagnosticReport>(201, dir.actors[who], 'POST', '/DiagnosticReport', {
        resourceType: 'DiagnosticReport', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '11488-4', display: 'Consult note' }] },
        subject: { reference: task.for?.reference }, basedOn: [{ reference: task.focus?.reference }], performer: [{ reference: dir.actors[who].role }], issued: new Date().toISOString(), conclusion,
      } satisfies DiagnosticReport);

    describe('Demande d\'avis AVC aigu: images announced, the requérant sees when the requis read it', () => {
      let task: Task;
      let study: ImagingStudy;
      const uid = '1.2.250.1.999.9.2.20240808.4501';

      it('the urgentiste opens the dossier from the DPI in one call, the MRI announced by its StudyInstanceUID', async () => {
        task = await api.createTeledossier(dir.actors.dupont, [
          JEAN_MARTIN, { name: 'workflow', valueCode: 'avis-avc' }, ref('requester', dir.actors.dupont.role),
          ref('owner', dir.community('unv')), ref('senderCommunity', dir.community('urgencesChiva')),
          text('reason', 'Déficit brachio-facial droit et aphasie depuis 04h50 : indication de thrombolyse ?'),
          { name: 'document', valueAttachment: { contentType: 'application/pdf', data: PDF, title: 'Observation urgences' } },
          { name: 'exam', valueIdentifier: { system: 'urn:dicom:uid', value: `urn:oid:${uid}` } },
        ]);
        expect(state(task)).to.equal('requested/demandee');
        expect(task.priority).to.equal('urgent');
      });

      it('the gateway (a system client) attaches the images pushed by C-STORE to the announced request', async () => {
        const requests = matches(await api.search('system', `ServiceRequest?identifier=${encodeURIComponent(`urn:dicom:uid|urn:oid:${uid}`)}`));
        expect(requests.map((r) => `ServiceRequest/${r.id}`)).to.deep.equal([task.focus?.reference]);
        study = await api.expectStatus<ImagingStudy>(201, 'system', 'POST', '/ImagingStudy', {
          resourceType: 'ImagingStudy', status: 'available', subject: { reference: task.for?.reference as string }, basedOn: [{ reference: task.focus?.reference }],
          identifier: [{ system: 'urn:dicom:uid', value: `urn:oid:${uid}` }], modality: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'MR' }],
          started: new Date().toISOString(), extension: [{ url: IMAGE_SOURCE_URL, valueCode: 'c-store' }],
        } satisfies ImagingStudy);
        const seen = matches(await api.search(dir.actors.durand, `ImagingStudy?basedon=${task.focus?.reference}`));
        expect(seen.map((s) => s.id)).to.deep.equal([study.id]);
      });

      it('lists the new dossier as unread for every member of the on-call community and for the sender', async () => {
        expect(await api.worklist(dir.actors.durand, 'view=requis&unread=true')).to.include(task.id);
        expect(await api.worklist(dir.actors.lambert, 'view=requis&unread=true&workflow=avis-avc')).to.include(task.id);
        expect(await api.worklist(dir.actors.dupont, 'view=sent&unread=true')).to.include(task.id);
      });

      it('the requis opens it: the requérant sees "lu par Dr DURAND le … à …" on the Task', async () => {
        const before = Date.now();
        await api.expectStatus(200, dir.actors.durand, 'GET', `/Task/${task.id}`);
        const seen = await api.expectStatus<Task>(200, dir.actors.dupont, 'GET', `/Task/${task.id}`);
        const [receipt, ...more] = receiptsOf(seen);
        expect(more).to.deep.equal([]);
        expect(receipt).to.include({ reader: dir.actors.durand.role, display: 'Dr DURAND', role: 'membre-communaute' });
        expect(Date.parse(receipt.time)).to.be.within(before - 1000, Date.now() + 1000);
        expect(readLine(receipt.display, receipt.time)).to.match(/^lu par Dr DURAND le \d{2}\/\d{2}\/\d{4} à \d{2}:\d{2}$/);
        expect(state(seen)).to.equal('requested/demandee');
      });

      it('moves the dossier out of the reader\'s and the sender\'s unread lists, not out of the other member\'s', async () => {
        expect(await api.worklist(dir.actors.durand, 'view=requis&unread=true')).not.to.include(task.id);
        expect(await api.worklist(dir.actors.durand, 'view=requis&unread=false')).to.include(task.id);
        expect(await api.worklist(dir.actors.lambert, 'view=requis&unread=true')).to.include(task.id);
        expect(await api.worklist(dir.actors.dupont, 'view=sent&unread=true')).not.to.include(task.id);
        expect(await api.worklist(dir.actors.dupont, 'view=sent&unread=false')).to.include(task.id);
      });

      it('the requis takes it in charge and answers with a CR: the urgentiste is notified each time, the CR leaves for the DPI', async () => {
        expect(state(await ok(api.transition(dir.actors.durand, task, 'prendre-en-charge')))).to.equal('in-progress/en-cours');
        const cr = await report('durand', task, 'Pas de contre-indication : thrombolyse IV, transfert à l\'UNV.');
        expect(state(await ok(api.transition(dir.actors.durand, task, 'repondre')))).to.equal('completed/repondue');
        const notices = await api.notifications(task);
        expect(recipientsOf(notices)).to.deep.equal([dir.actors.dupont.role, dir.actors.dupont.role]);
        expect(notices.map((c) => c.priority)).to.deep.equal(['urgent', 'urgent']);
        expect(await api.jobsFor('send-report-dpi', task)).to.have.length(1);
        await api.expectStatus(200, dir.actors.dupont, 'GET', `/DiagnosticReport/${cr.id}`);
        await api.expectStatus(200, dir.actors.dupont, 'GET', `/ImagingStudy/${study.id}`);
      });
    });

    describe('Demande d\'avis programmée: a secretary writes on behalf of a physician, the requis\' site routes, answers, admits, bills', () => {
      let task: Task;
      let cr: DiagnosticReport;
      let visit: Encounter;

      it('the secretary writes the request on behalf of Dr ROBERT, addressed to the CHU; the patient is matched, not duplicated', async () => {
        task = await api.createTeledossier(dir.actors.petit, [
          JEAN_MARTIN, { name: 'workflow', valueCode: 'avis-programme' }, ref('requester', dir.actors.robert.role),
          ref('author', dir.actors.petit.role), ref('owner', dir.org('chuToulouse')), text('reason', 'CAT devant un ECG atypique ?'),
          { name: 'document', valueAttachment: { contentType: 'application/pdf', data: PDF, title: 'ECG.pdf' } },
        ]);
        expect(state(task)).to.equal('requested/demandee');
        const patients = await api.search('system', 'Patient?identifier=urn:oid:1.2.250.1.213.1.4.8|180017512345678&_total=accurate');
        expect(patients.total).to.equal(1);
        expect(task.for?.reference).to.equal(`Patient/${matches(patients)[0].id}`);
        const [provenance] = matches(await api.search(dir.actors.robert, `Provenance?target=Task/${task.id}`)) as Provenance[];
        expect(provenance.agent[0].who?.reference).to.equal(dir.actors.petit.role);
        expect(provenance.agent[0].onBehalfOf?.reference).to.equal(dir.actors.robert.role);
        expect(await api.worklist(dir.actors.robert, 'view=sent')).to.include(task.id);
      });

      it('the requis site\'s secretariat finds it in its worklist, acknowledges it, and may not answer it', async () => {
        expect(await api.worklist(dir.actors.garnier, 'view=secretariat&unread=true&workflow=avis-programme')).to.deep.equal([task.id]);
        expect(state(await ok(api.transition(dir.actors.garnier, task, 'accuser-reception')))).to.equal('received/recue');
        const refused = await api.transition(dir.actors.garnier, task, 'repondre');
        expect(refused.status).to.equal(403);
        expect(JSON.stringify(refused.body)).to.contain('requis');
        expect(recipientsOf(await api.notifications(task))).to.deep.equal([dir.actors.petit.role, dir.actors.robert.role].sort());
      });

      it('the secretariat routes it to a cardiologist, who is notified and finds it in their worklist', async () => {
        const routed = await ok(api.transition(dir.actors.garnier, task, 'router', { owner: dir.actors.lefebvre.role }));
        expect(state(routed)).to.equal('accepted/attribuee');
        expect(routed.owner?.reference).to.equal(dir.actors.lefebvre.role);
        expect(recipientsOf(await api.notifications(task))).to.include(dir.actors.lefebvre.role);
        expect(await api.worklist(dir.actors.lefebvre, 'view=requis&unread=true')).to.deep.equal([task.id]);
      });

      it('the expert cannot answer without a CR, then answers with one; the requérant and the author are told', async () => {
        const early = await api.transition(dir.actors.lefebvre, task, 'repondre');
        expect(early.status).to.equal(409);
        expect(JSON.stringify(early.body)).to.contain('DiagnosticReport');
        cr = await report('lefebvre', task, 'L\'examen paraît normal. À revérifier dans 1 mois.');
        expect(state(await ok(api.transition(dir.actors.lefebvre, task, 'repondre')))).to.equal('completed/repondue');
        const toRequester = (await api.notifications(task)).filter((c) => c.payload?.[0]?.contentString?.includes('Rendre l\'avis'));
        expect(recipientsOf(toRequester)).to.deep.equal([dir.actors.petit.role, dir.actors.robert.role].sort());
        const seen = matches(await api.search(dir.actors.robert, `DiagnosticReport?based-on=${task.focus?.reference}`)) as DiagnosticReport[];
        expect(seen.map((r) => r.conclusion)).to.deep.equal([cr.conclusion]);
      });

      it('the bureau des entrées creates the visit (Encounter based on the request), after which the CR leaves for the DPI', async () => {
        expect((await api.transition(dir.actors.roux, task, 'creer-venue')).status).to.equal(409);
        visit = await api.expectStatus<Encounter>(201, dir.actors.roux, 'POST', '/Encounter', {
          resourceType: 'Encounter', status: 'finished', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
          identifier: [{ system: 'urn:oid:1.2.250.1.999.31.2', value: 'V2024080801' }], subject: { reference: task.for?.reference as string },
          basedOn: [{ reference: task.focus?.reference }], serviceProvider: { reference: dir.org('chuToulouse') },
        } satisfies Encounter);
        const admitted = await ok(api.transition(dir.actors.roux, task, 'creer-venue'));
        expect(state(admitted)).to.equal('completed/venue-creee');
        expect(admitted.encounter?.reference).to.equal(`Encounter/${visit.id}`);
        expect(await api.jobsFor('send-report-dpi', task)).to.have.length(1);
      });

      it('billing records the act (ChargeItem for the visit), then codes it', async () => {
        await api.expectStatus<ChargeItem>(201, dir.actors.blanc, 'POST', '/ChargeItem', {
          resourceType: 'ChargeItem', status: 'billable', code: { coding: [{ code: 'TE2', display: 'Téléexpertise' }], text: 'Acte de téléexpertise' },
          subject: { reference: task.for?.reference as string }, context: { reference: `Encounter/${visit.id}` }, occurrenceDateTime: new Date().toISOString(),
          performer: [{ actor: { reference: dir.actors.lefebvre.role } }], performingOrganization: { reference: dir.org('chuToulouse') },
          enterer: { reference: dir.actors.blanc.role }, service: [{ reference: `DiagnosticReport/${cr.id}` }],
        } satisfies ChargeItem);
        for (const who of [dir.actors.blanc, dir.actors.robert]) {
          expect(matches(await api.search(who, `ChargeItem?context=Encounter/${visit.id}`)), who.role).to.have.length(1);
        }
        expect(state(await ok(api.transition(dir.actors.blanc, task, 'coter-acte')))).to.equal('completed/cotee');
        expect(await api.jobsFor('record-charge', task)).to.have.length(1);
        const trail = matches(await api.search(dir.actors.robert, `Provenance?target=Task/${task.id}&_count=50`)) as Provenance[];
        const activities = trail.map((p) => p.activity?.coding?.[0]?.code).filter(Boolean);
        expect(activities).to.include.members(['accuser-reception', 'router', 'repondre', 'creer-venue', 'coter-acte']);
      });
    });

    describe('Transfert d\'imagerie towards an RCP: received by the secretariat, forwarded, acknowledged and closed', () => {
      let task: Task;

      it('the requesting secretariat sends the exam to the RCP community; the RCP secretariat receives it and the exam is forwarded', async () => {
        task = await api.createTeledossier(dir.actors.petit, [
          { name: 'patient', part: [{ name: 'ipp', valueIdentifier: { system: IPP_CHIVA, value: '456' } }, text('family', 'SIMON'),
            text('given', 'Marie'), { name: 'birthDate', valueDate: '1960-02-02' }, { name: 'gender', valueCode: 'female' }] },
          { name: 'workflow', valueCode: 'transfert-imagerie' }, ref('requester', dir.actors.robert.role), ref('author', dir.actors.petit.role),
          ref('owner', dir.community('rcpOnco')), { name: 'exam', valueIdentifier: { system: IPP_CHIVA.replace(/1$/, '2'), value: 'ACC-2024-0815' } },
          { name: 'document', valueAttachment: { contentType: 'application/pdf', data: PDF, title: 'Fiche RCP' } },
        ]);
        expect(state(task)).to.equal('requested/transmis');
        expect(await api.worklist(dir.actors.faure, 'view=secretariat&workflow=transfert-imagerie')).to.deep.equal([task.id]);
        expect(state(await ok(api.transition(dir.actors.faure, task, 'receptionner')))).to.equal('received/recu');
        expect(await api.jobsFor('forward-study', task)).to.have.length(1);
        const refused = await api.transition(dir.actors.faure, task, 'accuser-reception');
        expect(refused.status).to.equal(403);
      });

      it('the RCP physician acknowledges receipt, which closes the dossier and tells the requesting side', async () => {
        expect(await api.worklist(dir.actors.simon, 'view=requis&unread=true')).to.deep.equal([task.id]);
        expect(state(await ok(api.transition(dir.actors.simon, task, 'accuser-reception')))).to.equal('completed/cloture');
        expect(recipientsOf(await api.notifications(task))).to.deep.equal([dir.actors.petit.role, dir.actors.robert.role].sort());
        expect((await api.transition(dir.actors.robert, task, 'annuler', { reason: 'Erreur de destinataire' })).status).to.equal(409);
      });

      it('keeps what was sent: the document can be neither withdrawn from the closed dossier nor deleted', async () => {
        const current = await api.expectStatus<Task>(200, dir.actors.petit, 'GET', `/Task/${task.id}`);
        const { input: sent, ...withoutInput } = current;
        expect(sent?.map((i) => i.type.coding?.[0]?.code)).to.deep.equal(['document']);
        expect((await api.call(dir.actors.petit, 'PUT', `/Task/${task.id}`, withoutInput)).status).to.equal(409);
        expect((await api.call(dir.actors.petit, 'DELETE', `/${sent?.[0].valueReference?.reference}`)).status).to.equal(409);
        await api.expectStatus(200, dir.actors.simon, 'GET', `/${sent?.[0].valueReference?.reference}`);
      });
    });

    describe('Complementary opinion from a tiers (a step: child Task owned by the tiers)', () => {
      let task: Task;
      let step: Task;

      it('the requis asks a neuroradiologist of another establishment; the tiers sees the dossier and the step', async () => {
        task = await api.createTeledossier(dir.actors.dupont, [
          JEAN_MARTIN, { name: 'workflow', valueCode: 'avis-urgences' }, ref('requester', dir.actors.dupont.role),
          ref('owner', dir.actors.durand.role), text('reason', 'Céphalée brutale, scanner douteux'),
        ]);
        await ok(api.transition(dir.actors.durand, task, 'prendre-en-charge'));
        await api.expectStatus(404, dir.actors.mercier, 'GET', `/Task/${task.id}`);
        step = await api.expectStatus<Task>(201, dir.actors.durand, 'POST', '/Task', {
          resourceType: 'Task', status: 'requested', intent: 'order', partOf: [{ reference: `Task/${task.id}` }],
          code: { text: 'Demande d\'avis complémentaire' }, description: 'Relecture du scanner : hémorragie sous-arachnoïdienne ?',
          for: task.for, focus: task.focus, requester: { reference: dir.actors.durand.role }, owner: { reference: dir.actors.mercier.role },
          authoredOn: new Date().toISOString(),
        } satisfies Task);
        expect(await api.worklist(dir.actors.mercier, 'view=requis')).to.deep.equal([step.id]);
        // The tiers is told about the request (a notice on the step, and the e-mail/SMS outbox).
        expect(recipientsOf(await api.notifications(step))).to.deep.equal([dir.actors.mercier.role]);
        const parent = await api.expectStatus<Task>(200, dir.actors.mercier, 'GET', `/Task/${task.id}`);
        expect(parent.id).to.equal(task.id);
        const seen = await api.expectStatus<Task>(200, dir.actors.dupont, 'GET', `/Task/${task.id}`);
        expect(receiptsOf(seen).map((r) => [r.reader, r.role])).to.deep.include([dir.actors.mercier.role, 'tiers']);
      });

      it('a professional outside the dossier cannot add a step to it', async () => {
        const res = await api.call(dir.actors.girard, 'POST', '/Task', { ...step, id: undefined, meta: undefined, owner: { reference: dir.actors.girard.role } });
        expect(res.status).to.equal(403);
      });

      it('the tiers answers on the step; the requis and the requérant read the answer', async () => {
        const answer = await api.expectStatus<Communication>(201, dir.actors.mercier, 'POST', '/Communication', {
          resourceType: 'Communication', status: 'completed', partOf: [{ reference: `Task/${step.id}` }], subject: { reference: task.for?.reference },
          sender: { reference: dir.actors.mercier.role }, recipient: [{ reference: dir.actors.durand.role }], sent: new Date().toISOString(),
          payload: [{ contentString: 'Pas d\'hémorragie sous-arachnoïdienne visible ; artefact de mouvement.' }],
        } satisfies Communication);
        // The requérant sees the step but does not close it: that is the tiers' (or the requis who asked).
        const refused = await api.call(dir.actors.dupont, 'PUT', `/Task/${step.id}`, { ...step, status: 'completed' });
        expect(refused.status).to.equal(403);
        const done = await api.expectStatus<Task>(200, dir.actors.mercier, 'PUT', `/Task/${step.id}`, {
          ...step, status: 'completed', output: [{ type: { text: 'avis complémentaire' }, valueReference: { reference: `Communication/${answer.id}` } }],
        });
        expect(done.status).to.equal('completed');
        for (const reader of [dir.actors.durand, dir.actors.dupont]) {
          const steps = matches(await api.search(reader, `Task?part-of=Task/${task.id}`)) as Task[];
          expect(steps.map((s) => [s.id, s.status])).to.deep.equal([[step.id, 'completed']]);
          const found = matches(await api.search(reader, `Communication?part-of=Task/${step.id}`)) as Communication[];
          expect(found.map((c) => c.id)).to.include(answer.id);
        }
        // The one who asked is told the step is answered.
        expect(recipientsOf(await api.notifications(step))).to.deep.equal([dir.actors.durand.role, dir.actors.mercier.role].sort());
      });
    });

    describe('Visibility: Moi-même, Ma communauté, and a non-participant who sees nothing', () => {
      let avc: Task;
      let programmed: Task;
      let visit: Encounter;

      before(async () => {
        avc = await api.createTeledossier(dir.actors.dupont, [JEAN_MARTIN, { name: 'workflow', valueCode: 'avis-avc' },
          ref('requester', dir.actors.dupont.role), ref('owner', dir.community('unv')), ref('senderCommunity', dir.community('urgencesChiva')),
          { name: 'document', valueAttachment: { contentType: 'application/pdf', data: PDF, title: 'Observation' } }]);
        programmed = await api.createTeledossier(dir.actors.petit, [JEAN_MARTIN, { name: 'workflow', valueCode: 'avis-programme' },
          ref('requester', dir.actors.robert.role), ref('author', dir.actors.petit.role), ref('owner', dir.actors.lefebvre.role)]);
        visit = await api.expectStatus<Encounter>(201, dir.actors.roux, 'POST', '/Encounter', {
          resourceType: 'Encounter', status: 'planned', class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
          subject: { reference: programmed.for?.reference as string }, basedOn: [{ reference: programmed.focus?.reference }],
        } satisfies Encounter);
      });

      it('"Ma communauté": the sender\'s community colleagues see the dossier; "Moi-même": the sender\'s colleagues do not', async () => {
        await api.expectStatus(200, dir.actors.fontaine, 'GET', `/Task/${avc.id}`);
        expect(await api.worklist(dir.actors.fontaine, 'view=all')).to.include(avc.id);
        await api.expectStatus(404, dir.actors.vincent, 'GET', `/Task/${programmed.id}`);
        expect(await api.worklist(dir.actors.vincent, 'view=all')).to.deep.equal([]);
      });

      it('a member of the requis community sees the community\'s dossiers, not a colleague\'s personal one', async () => {
        await api.expectStatus(200, dir.actors.lambert, 'GET', `/Task/${avc.id}`);
        expect(await api.worklist(dir.actors.lambert, 'view=requis')).to.include(avc.id);
        await api.expectStatus(404, dir.actors.lambert, 'GET', `/Task/${programmed.id}`);
        expect(await api.worklist(dir.actors.lambert, 'view=all')).not.to.include(programmed.id);
      });

      it('a non-participant gets 404 on every read and empty searches with total 0', async () => {
        const girard = dir.actors.girard;
        const doc = avc.input?.[0]?.valueReference?.reference;
        for (const path of [`Task/${avc.id}`, `Task/${programmed.id}`, avc.focus?.reference, programmed.focus?.reference, doc]) {
          await api.expectStatus(404, girard, 'GET', `/${path}`);
        }
        const ids = `${avc.id},${programmed.id}`;
        for (const query of [`Task?_id=${ids}`, `Task?patient=${avc.for?.reference}`, `Task?_summary=count`, `ServiceRequest?patient=${avc.for?.reference}`,
          `DocumentReference?patient=${avc.for?.reference}`, `Provenance?target=Task/${programmed.id}`, `Communication?part-of=Task/${avc.id}`,
          `Encounter?based-on=${programmed.focus?.reference}`, `Encounter?_id=${visit.id}`, `ChargeItem?patient=${avc.for?.reference}`]) {
          const bundle = await api.search(girard, `${query}${query.includes('?') ? '&' : '?'}_total=accurate`);
          expect(bundle.total, query).to.equal(0);
          expect(bundle.entry ?? [], query).to.deep.equal([]);
        }
        expect(await api.worklist(girard, 'view=all')).to.deep.equal([]);
        expect(await api.worklist(girard, 'view=requis')).to.deep.equal([]);
      });

      it('a non-participant gets nothing through _include or _revinclude', async () => {
        const girard = dir.actors.girard;
        const patient = (avc.for?.reference as string).split('/')[1];
        const cases: [string, string[]][] = [
          [`Patient?_id=${patient}&_revinclude=Task:patient&_revinclude=ServiceRequest:patient&_revinclude=Encounter:patient`
            + '&_revinclude=ChargeItem:patient&_revinclude=DocumentReference:patient', ['Patient']],
          [`CareTeam?_id=${dir.community('unv').split('/')[1]}&_revinclude=Task:owner`, ['CareTeam']],
          [`PractitionerRole?_id=${dir.actors.robert.role.split('/')[1]}&_revinclude=Task:requester&_revinclude=ServiceRequest:requester`, ['PractitionerRole']],
          [`Task?_id=${avc.id}&_include=Task:focus&_include=Task:patient`, []],
        ];
        for (const [query, types] of cases) {
          const bundle = await api.search(girard, query);
          expect((bundle.entry ?? []).map((e) => e.resource?.resourceType), query).to.deep.equal(types);
        }
      });

      it('notifications reach only the participants a transition names', async () => {
        await ok(api.transition(dir.actors.lefebvre, programmed, 'accuser-reception'));
        const notices: Communication[] = await api.notifications(programmed);
        expect(recipientsOf(notices)).to.deep.equal([dir.actors.petit.role, dir.actors.robert.role].sort());
        const girardsBox = (await api.search(dir.actors.girard, `Communication?recipient=${dir.actors.girard.role}`)) as Bundle;
        expect(girardsBox.entry ?? []).to.deep.equal([]);
        const robertsBox = matches(await api.search(dir.actors.robert, `Communication?recipient=${dir.actors.robert.role}&part-of=Task/${programmed.id}`));
        expect(robertsBox.map((c) => c.id)).to.deep.equal(notices.filter((c) => c.recipient?.[0]?.reference === dir.actors.robert.role).map((c) => c.id));
        await api.expectStatus(404, dir.actors.vincent, 'GET', `/Communication/${notices[0].id}`);
      });
    });
  });
}
