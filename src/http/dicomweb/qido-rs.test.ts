// QIDO-RS (PS3.18 §10.6) through a real platform on port 0: studies sent by dcmtk's storescu, searched over HTTP with
// fetch as a system client and as users who see only the studies of their télédossiers.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEvent, Bundle, Parameters } from '@medplum/fhirtypes';
import { expect } from 'chai';
import { describeWithDicomPeers } from '../../dicom/test-dicom-peers.js';
import type { DicomJson } from '../../imaging/dicom-json.js';
import { eventually, httpBackends, postResource, type TestServer } from '../test-server.js';
import { corpus, dicomweb, get, send, startDicomwebServer, writeInstance, type Generated } from './test-dicomweb-server.js';

const text = (m: DicomJson, tag: string) => m[tag]?.Value?.[0] as string | undefined;
const pn = (m: DicomJson) => (m['00100010']?.Value?.[0] as { Alphabetic?: string } | undefined)?.Alphabetic;

for (const backend of httpBackends()) {
  describeWithDicomPeers(`QIDO-RS (${backend})`, function () {
    this.timeout(120_000);
    let server: TestServer;
    let dir: string;
    let sent: Generated[];
    const study = (accession: string) => sent.find((g) => g.accession === accession) as Generated;
    const search = async (path: string, init: { token?: string | null; accept?: string } = {}) => {
      const res = await get(server, `/dicomweb${path}`, init);
      const body = await res.text();
      return { res, body, json: (res.status === 200 ? JSON.parse(body) : undefined) as DicomJson[] };
    };
    const ok = async (path: string, token?: string) => {
      const r = await search(path, { token });
      expect(r.res.status, r.body).to.equal(200);
      expect(r.res.headers.get('content-type')).to.match(/^application\/dicom\+json/);
      return r.json;
    };
    const accessions = (ms: DicomJson[]) => ms.map((m) => text(m, '00080050')).sort();

    before(async () => {
      server = await startDicomwebServer(backend);
      dir = await mkdtemp(join(tmpdir(), 'teleo-qido-'));
      sent = corpus();
      for (const g of sent) {
        const file = join(dir, `${g.sopUid}.dcm`);
        await writeInstance(file, g);
        await send(server, file);
      }
    });
    after(async () => {
      await server?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('finds studies by patient name, case- and accent-insensitively, with wildcards', async () => {
      expect(accessions(await ok('/studies?PatientName=lefevre*'))).to.deep.equal(['ACC-A1', 'ACC-A2', 'ACC-C1']);
      expect(accessions(await ok('/studies?00100010=LEFÈVRE%5EH*'))).to.deep.equal(['ACC-A1', 'ACC-A2']);
      expect(accessions(await ok('/studies?PatientName=Dupont%5EJean'))).to.deep.equal(['ACC-B1']);
    });

    it('matches words of person names in any order with fuzzymatching=true, and only whole names without', async () => {
      expect(accessions(await ok('/studies?PatientName=helene%20lef&fuzzymatching=true'))).to.deep.equal(['ACC-A1', 'ACC-A2']);
      expect(accessions(await ok('/studies?PatientName=LEFEVRE&fuzzymatching=true'))).to.deep.equal(['ACC-A1', 'ACC-A2', 'ACC-C1']);
      expect(accessions(await ok('/studies?PatientName=ene&fuzzymatching=true'))).to.deep.equal([]); // word starts only
      expect(await ok('/studies?PatientName=helene%20lef')).to.deep.equal([]);
    });

    it('matches date ranges, modalities in study, accession numbers and lists of UIDs, by keyword or tag', async () => {
      expect(accessions(await ok('/studies?StudyDate=20250101-20250131'))).to.deep.equal(['ACC-A1', 'ACC-B1']);
      expect(accessions(await ok('/studies?StudyDate=-20250101'))).to.deep.equal(['ACC-C1']);
      expect(accessions(await ok('/studies?ModalitiesInStudy=CT'))).to.deep.equal(['ACC-A1', 'ACC-A2', 'ACC-C1']);
      expect(accessions(await ok('/studies?00080061=MR'))).to.deep.equal(['ACC-A1', 'ACC-B1']);
      expect(accessions(await ok('/studies?AccessionNumber=ACC-B1'))).to.deep.equal(['ACC-B1']);
      const uids = `${study('ACC-A2').studyUid},${study('ACC-C1').studyUid}`;
      expect(accessions(await ok(`/studies?StudyInstanceUID=${uids}`))).to.deep.equal(['ACC-A2', 'ACC-C1']);
      expect(accessions(await ok(`/studies?0020000D=${study('ACC-A2').studyUid}&0020000D=${study('ACC-B1').studyUid}`))).to.deep.equal(['ACC-A2', 'ACC-B1']);
    });

    it('answers the default study attributes (Table 10.6.3-3) with counts over the whole study', async () => {
      const a1 = study('ACC-A1');
      const [m] = await ok(`/studies?StudyInstanceUID=${a1.studyUid}`);
      expect(pn(m)).to.equal('LEFÈVRE^Hélène');
      expect(m['00201206'].Value).to.deep.equal([2]);
      expect(m['00201208'].Value).to.deep.equal([3]);
      expect(m['00080061'].Value).to.deep.equal(['CT', 'MR']);
      expect(m['00080056'].Value).to.deep.equal(['ONLINE']);
      expect(m['00081190'].Value).to.deep.equal([`${dicomweb(server).replace('127.0.0.1', 'localhost')}/studies/${a1.studyUid}`]);
      expect(text(m, '00080020')).to.equal('20250110');
      expect(m).to.include.keys('00080030', '00080090', '00100020', '00100030', '00100040', '00200010');
      expect(m).not.to.include.keys('00081030', '00080052', '0020000E');
    });

    it('adds includefield attributes by keyword or tag, and every study attribute with includefield=all', async () => {
      const uid = study('ACC-A2').studyUid;
      const [one] = await ok(`/studies?StudyInstanceUID=${uid}&includefield=StudyDescription&includefield=00101010`);
      expect(text(one, '00081030')).to.equal('Scanner thoracique');
      expect(one['00101010']).to.deep.equal({ vr: 'AS' });
      const [all] = await ok(`/studies?StudyInstanceUID=${uid}&includefield=all`);
      expect(text(all, '00081030')).to.equal('Scanner thoracique');
      expect(all).not.to.include.keys('00200013', '00280010', '0008103E');
    });

    it('pages with limit and offset in Study Instance UID order, with a Warning while more remain', async () => {
      const everything = await ok('/studies');
      expect(everything).to.have.length(4);
      const r1 = await search('/studies?limit=3');
      expect(r1.json).to.have.length(3);
      expect(r1.res.headers.get('warning')).to.match(/^299 teleo "There are additional results/);
      const r2 = await search('/studies?limit=3&offset=3');
      expect(r2.res.headers.get('warning')).to.equal(null);
      expect([...r1.json, ...r2.json].map((m) => text(m, '0020000D'))).to.deep.equal(everything.map((m) => text(m, '0020000D')));
      expect(everything.map((m) => text(m, '0020000D'))).to.deep.equal(everything.map((m) => text(m, '0020000D') as string).sort());
      expect(await ok('/studies?offset=10')).to.deep.equal([]);
    });

    it('searches series and instances of a study, and all series with their study attributes', async () => {
      const a1 = study('ACC-A1');
      const series = await ok(`/studies/${a1.studyUid}/series`);
      expect(series.map((s) => [text(s, '00080060'), s['00201209'].Value?.[0]])).to.deep.equal(
        [...new Map(sent.filter((g) => g.studyUid === a1.studyUid).map((g) => [g.seriesUid, g])).values()]
          .sort((x, y) => (x.seriesUid < y.seriesUid ? -1 : 1)).map((g) => [g.modality, g.modality === 'MR' ? 2 : 1]));
      expect(series[0]).not.to.include.keys('00201208', '00100010');
      const ct = await ok('/series?Modality=CT&PatientID=IPP-100');
      expect(ct).to.have.length(2);
      const ofA1 = ct.find((s) => text(s, '0020000D') === a1.studyUid) as DicomJson;
      expect(ofA1['00201208'].Value).to.deep.equal([3]); // the study's count, not the series'
      expect(ofA1['00201209'].Value).to.deep.equal([1]);
      expect(pn(ofA1)).to.equal('LEFÈVRE^Hélène');

      const mr = sent.find((g) => g.studyUid === a1.studyUid && g.modality === 'MR') as Generated;
      const instances = await ok(`/studies/${a1.studyUid}/series/${mr.seriesUid}/instances`);
      expect(instances.map((i) => i['00200013'].Value?.[0]).sort()).to.deep.equal([1, 2]);
      expect(instances[0]).to.include.keys('00080016', '00080018', '00280010', '00280011', '00280100', '00081190');
      expect(instances[0]).not.to.include.keys('00100010', '0008103E');
      const byNumber = await ok(`/studies/${a1.studyUid}/instances?InstanceNumber=2`);
      expect(byNumber.map((i) => text(i, '00080018'))).to.deep.equal([sent.find((g) => g.seriesUid === mr.seriesUid && g.instanceNumber === '2')?.sopUid]);
      expect(byNumber[0]['00201209'].Value).to.deep.equal([2]);
      expect(await ok('/instances?PatientID=IPP-300')).to.have.length(1);
    });

    it('refuses bad parameters with 400 and a clear message, warns about unsupported ones', async () => {
      for (const [q, message] of [['Unknown=1', /Unknown attribute "Unknown"/], ['limit=0', /limit must be an integer/], ['StudyDate=2025-01-01', /invalid DA/],
        ['fuzzymatching=yes', /fuzzymatching must be true or false/], ['StudyInstanceUID=abc', /not a UID list/]] as const) {
        const r = await search(`/studies?${q}`);
        expect(r.res.status, q).to.equal(400);
        expect(JSON.parse(r.body).issue[0].details.text).to.match(message);
      }
      const r = await search('/studies?RequestAttributesSequence.AccessionNumber=X');
      expect(r.res.status).to.equal(200);
      expect(r.res.headers.get('warning')).to.match(/not supported/);
      expect((await search('/studies', { accept: 'multipart/related; type="application/dicom+xml"' })).res.status).to.equal(406);
    });

    it('requires a token (401) and a scope on ImagingStudy (403), and audits each search as a Query (110112)', async () => {
      expect((await search('/studies', { token: null })).res.status).to.equal(401);
      expect((await search('/studies', { token: await server.token({ scope: 'user/Patient.read' }) })).res.status).to.equal(403);
      const b1 = study('ACC-B1');
      await ok(`/studies?AccessionNumber=ACC-B1`);
      await server.platform.jobs.drain();
      const bundle = await (await server.fhir('/AuditEvent?_count=200')).json() as Bundle<AuditEvent>;
      const queries = (bundle.entry ?? []).map((e) => e.resource as AuditEvent)
        .filter((e) => e.subtype?.some((s) => s.code === '110112') && e.entity?.some((x) => x.what?.reference === `urn:oid:${b1.studyUid}`));
      expect(queries.length).to.be.greaterThan(0);
      expect(Buffer.from(queries[0].entity?.find((x) => x.query)?.query as string, 'base64').toString()).to.match(/\/dicomweb\/studies\?/);
    });

    it('shows a user only the studies of the télédossiers they take part in; a system client sees them all', async () => {
      const post = (body: object) => postResource(server, body);
      const org = await post({ resourceType: 'Organization', name: 'CH de Rodez' });
      const robert = await post({ resourceType: 'Practitioner', name: [{ family: 'Robert' }] });
      const durand = await post({ resourceType: 'Practitioner', name: [{ family: 'Durand' }] });
      const requester = await post({ resourceType: 'PractitionerRole', practitioner: { reference: robert }, organization: { reference: org } });
      const expert = await post({ resourceType: 'PractitionerRole', practitioner: { reference: durand }, organization: { reference: org } });
      const requesterToken = await server.token({ sub: 'robert', fhirUser: robert, role: requester, scope: 'user/*.cruds' });
      const strangerToken = await server.token({ sub: 'stranger', fhirUser: 'Practitioner/nobody', scope: 'user/*.cruds' });
      const own: Generated = { ...corpus()[0], patientName: 'MARTIN^Léa', patientId: 'IPP-900', accession: 'ACC-U1' };
      const body: Parameters = {
        resourceType: 'Parameters',
        parameter: [
          { name: 'patient', part: [{ name: 'ipp', valueIdentifier: { system: 'urn:oid:1.2.250.1.999.12.1', value: 'IPP-900' } }, { name: 'family', valueString: 'MARTIN' }, { name: 'given', valueString: 'Léa' }, { name: 'birthDate', valueDate: '1962-03-14' }] },
          { name: 'workflow', valueCode: 'avis-programme' },
          { name: 'requester', valueReference: { reference: requester } },
          { name: 'owner', valueReference: { reference: expert } },
          { name: 'exam', valueIdentifier: { system: 'urn:dicom:uid', value: `urn:oid:${own.studyUid}` } },
        ],
      };
      const created = await server.fhir('/Task/$create-teledossier', { method: 'POST', body: JSON.stringify(body), token: requesterToken });
      expect(created.status, await created.clone().text()).to.equal(201);
      const file = join(dir, `${own.sopUid}.dcm`);
      await writeInstance(file, own);
      await send(server, file);
      await eventually(async () => expect(accessions(await ok('/studies', requesterToken))).to.deep.equal(['ACC-U1']));
      expect(accessions(await ok('/studies?PatientName=*', requesterToken))).to.deep.equal(['ACC-U1']);
      expect(await ok('/studies?PatientName=lefevre*', requesterToken)).to.deep.equal([]);
      expect(await ok(`/studies/${study('ACC-B1').studyUid}/series`, requesterToken)).to.deep.equal([]);
      expect(await ok(`/studies/${own.studyUid}/series`, requesterToken)).to.have.length(1);
      expect(await ok('/studies', strangerToken)).to.deep.equal([]);
      expect((await search('/studies', { token: await server.token({ scope: 'user/ImagingStudy.r' }) })).res.status).to.equal(403);
      expect(await ok('/studies')).to.have.length(5);
    });
  });
}
