// Task/[id]/$create-exam ("Créer un examen") through a real platform on port 0: JPEG, PNG and PDF files posted as
// multipart/form-data (and as a Parameters), the stored objects checked by dicom3tools' dciodvfy and dcmtk's dcmdump,
// the study attached to the dossier, rendered back over DICOMweb.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, ImagingStudy, Parameters, Task } from '@medplum/fhirtypes';
import { expect } from 'chai';
import jpeg from 'jpeg-js';
import { PNG } from 'pngjs';
import { describeWithDicomPeers, run } from '../dicom/test-dicom-peers.js';
import { writeTestImage } from '../imaging/test-images.js';
import { jpegFrameHeader } from '../imaging/secondary-capture.js';
import { DOSSIER_CONTENT_SYSTEM } from '../workflow/teleexpertise/dossier-model.js';
import { eventually, httpBackends, postResource, startTestServer, type TestServer } from './test-server.js';

const INS = '185051299912345';
const PDF = Buffer.from('%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n');


async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...await filesUnder(join(dir, e.name)));
    else if (e.name.startsWith('sha256-')) out.push(join(dir, e.name));
  }
  return out;
}

for (const backend of httpBackends()) {
  describeWithDicomPeers(`Task/$create-exam (${backend})`, function () {
    this.timeout(120_000);
    let server: TestServer;
    let dir: string;
    let requesterToken: string;
    let strangerToken: string;
    let task: Task;
    const files: Record<string, Buffer> = {};

    before(async () => {
      server = await startTestServer(backend);
      dir = await mkdtemp(join(tmpdir(), 'teleo-create-exam-'));
      const post = (body: object) => postResource(server, body);
      const chu = await post({ resourceType: 'Organization', name: 'CHU de Toulouse' });
      const rodez = await post({ resourceType: 'Organization', name: 'CH de Rodez' });
      const robert = await post({ resourceType: 'Practitioner', name: [{ family: 'Robert' }] });
      const durand = await post({ resourceType: 'Practitioner', name: [{ family: 'Durand' }] });
      const other = await post({ resourceType: 'Practitioner', name: [{ family: 'Autre' }] });
      const requester = await post({ resourceType: 'PractitionerRole', practitioner: { reference: robert }, organization: { reference: rodez } });
      const expert = await post({ resourceType: 'PractitionerRole', practitioner: { reference: durand }, organization: { reference: chu } });
      const otherRole = await post({ resourceType: 'PractitionerRole', practitioner: { reference: other }, organization: { reference: chu } });
      requesterToken = await server.token({ fhirUser: robert, role: requester, scope: 'user/*.cruds' });
      strangerToken = await server.token({ fhirUser: other, role: otherRole, scope: 'user/*.cruds' });
      const body: Parameters = {
        resourceType: 'Parameters',
        parameter: [
          { name: 'patient', part: [{ name: 'ins', valueString: INS }, { name: 'ipp', valueIdentifier: { system: 'urn:oid:1.2.250.1.999.12.1', value: 'IPP-77' } },
            { name: 'family', valueString: 'FABRÉ' }, { name: 'given', valueString: 'Léa' }, { name: 'birthDate', valueDate: '1985-05-12' }, { name: 'gender', valueCode: 'female' }] },
          { name: 'workflow', valueCode: 'avis-programme' },
          { name: 'requester', valueReference: { reference: requester } },
          { name: 'owner', valueReference: { reference: expert } },
        ],
      };
      const res = await server.fhir('/Task/$create-teledossier', { method: 'POST', body: JSON.stringify(body), token: requesterToken });
      expect(res.status, await res.clone().text()).to.equal(201);
      task = ((await res.json()) as Parameters).parameter?.find((p) => p.name === 'task')?.resource as Task;

      // A photo as a camera writes it (4:2:2 chroma subsampling, from dcmtk), a 4:4:4 one, a PNG with alpha, a PDF.
      const rgb = join(dir, 'rgb.dcm');
      await writeTestImage(rgb, { rows: 48, columns: 64, samplesPerPixel: 3, pattern: 'smooth' });
      expect((await run('dcmj2pnm', ['+oj', rgb, join(dir, 'photo.jpg')])).code).to.equal(0);
      files['photo.jpg'] = await readFile(join(dir, 'photo.jpg'));
      const rgba = Buffer.alloc(30 * 20 * 4);
      for (let i = 0; i < 600; i++) rgba.set([i % 256, (i * 3) % 256, 100, i % 2 ? 255 : 128], 4 * i);
      files['full-chroma.jpg'] = jpeg.encode({ width: 30, height: 20, data: rgba }, 90).data;
      const png = new PNG({ width: 30, height: 20 });
      png.data = rgba;
      files['schema.png'] = PNG.sync.write(png);
      files['courrier.pdf'] = PDF;
    });
    after(async () => {
      await server?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    const createExam = async (form: FormData, token = requesterToken, id = task.id) =>
      fetch(`${server.base}/Task/${id}/$create-exam`, { method: 'POST', body: form, headers: { Authorization: `Bearer ${token}` } });
    const formOf = (names: string[], fields: Record<string, string> = {}) => {
      const form = new FormData();
      for (const [k, v] of Object.entries(fields)) form.append(k, v);
      for (const name of names) form.append('file', new Blob([new Uint8Array(files[name] ?? Buffer.from('not an image'))]), name);
      return form;
    };

    it('creates one study from JPEG, PNG and PDF files, valid for dciodvfy, with the dossier patient, attached to the dossier', async () => {
      expect(jpegFrameHeader(files['photo.jpg'])?.components[0]).to.deep.include({ h: 2 }); // really subsampled
      const res = await createExam(formOf(['photo.jpg', 'full-chroma.jpg', 'schema.png', 'courrier.pdf'], { studyDescription: 'Photos dermatologie', seriesDescription: 'Lésion avant-bras' }));
      expect(res.status, await res.clone().text()).to.equal(201);
      const out = (await res.json()) as Parameters;
      const uid = out.parameter?.find((p) => p.name === 'studyInstanceUid')?.valueOid?.replace('urn:oid:', '') as string;
      expect(uid).to.match(/^2\.25\.\d+$/);
      const instances = out.parameter?.filter((p) => p.name === 'instance') ?? [];
      expect(instances.map((i) => i.part?.find((p) => p.name === 'filename')?.valueString)).to.deep.equal(['photo.jpg', 'full-chroma.jpg', 'schema.png', 'courrier.pdf']);

      // The stored objects: every one passes dciodvfy without error and reads in dcmdump with the dossier's identity.
      const stored = await filesUnder(join(server.dataDir, 'blobs'));
      const dumps: string[] = [];
      for (const i of instances) {
        const sop = i.part?.find((p) => p.name === 'sopInstanceUid')?.valueOid?.replace('urn:oid:', '') as string;
        const contents = await Promise.all(stored.map(async (f) => ({ f, b: await readFile(f) })));
        const file = contents.find((c) => c.b.includes(Buffer.from(sop)));
        expect(file, sop).to.not.equal(undefined);
        const path = join(dir, `${sop}.dcm`);
        await writeFile(path, (file as { b: Buffer }).b);
        const verify = await run('dciodvfy', [path]);
        expect(verify.output.split('\n').filter((l) => /^Error/.test(l)), verify.output).to.deep.equal([]);
        const dump = await run('dcmdump', ['+U8', path]);
        expect(dump.code, dump.output).to.equal(0);
        dumps.push(dump.output);
      }
      for (const d of dumps) {
        expect(d).to.contain('[FABRÉ^Léa]').and.contain('[IPP-77]').and.contain(`[${INS}]`).and.contain('[19850512]').and.contain('(0010,0040) CS [F]');
        expect(d).to.contain(`[${uid}]`).and.contain('[Photos dermatologie]');
      }
      expect(dumps[0]).to.contain('=JPEGBaseline').and.contain('[YBR_FULL_422]').and.contain('[Lésion avant-bras]');
      expect(dumps[1]).to.contain('=LittleEndianExplicit').and.contain('[RGB]').and.contain('(0028,2110) CS [01]');
      expect(dumps[2]).to.contain('[RGB]').and.not.contain('(0028,2110)');
      expect(dumps[3]).to.contain('=EncapsulatedPDFStorage').and.contain('[application/pdf]').and.contain(`(0042,0015) UL ${PDF.byteLength}`);

      // The study reaches the dossier; the requester sees it and its thumbnail.
      const study = await eventually(async () => {
        const bundle = (await (await server.fhir(`/ImagingStudy?identifier=${encodeURIComponent(`urn:dicom:uid|urn:oid:${uid}`)}`)).json()) as Bundle<ImagingStudy>;
        const s = bundle.entry?.[0]?.resource as ImagingStudy;
        expect(s?.numberOfInstances).to.equal(4);
        return s;
      });
      expect(study.subject.reference).to.equal(task.for?.reference);
      expect(study.series?.map((s) => s.modality.code).sort()).to.deep.equal(['DOC', 'OT']);
      await eventually(async () => {
        const t = (await (await server.fhir(`/Task/${task.id}`)).json()) as Task;
        const exams = (t.input ?? []).filter((i) => i.type.coding?.some((c) => c.system === DOSSIER_CONTENT_SYSTEM && c.code === 'exam'));
        expect(exams.map((e) => e.valueReference?.reference)).to.include(`ImagingStudy/${study.id}`);
      });
      const thumb = await eventually(async () => {
        const r = await fetch(`${server.platform.url}/dicomweb/studies/${uid}/thumbnail`, { headers: { Authorization: `Bearer ${requesterToken}` } });
        expect(r.status).to.equal(200);
        return r;
      });
      expect(thumb.headers.get('content-type')).to.equal('image/jpeg');
    });

    it('takes a Parameters with base64 attachments too', async () => {
      const body: Parameters = {
        resourceType: 'Parameters',
        parameter: [{ name: 'studyDescription', valueString: 'Schéma' }, { name: 'file', valueAttachment: { contentType: 'image/png', title: 'schema.png', data: files['schema.png'].toString('base64') } }],
      };
      const res = await server.fhir(`/Task/${task.id}/$create-exam`, { method: 'POST', body: JSON.stringify(body), token: requesterToken });
      expect(res.status, await res.clone().text()).to.equal(201);
      expect(((await res.json()) as Parameters).parameter?.filter((p) => p.name === 'instance')).to.have.length(1);
    });

    it('refuses a file that is not JPEG, PNG or PDF (415, nothing announced), a stranger (404) and a read-only caller (403)', async () => {
      const before = (await (await server.fhir(`/${task.focus?.reference}`)).json()) as { identifier?: unknown[] };
      const bad = await createExam(formOf(['photo.jpg', 'notes.txt']));
      expect(bad.status).to.equal(415);
      expect(JSON.stringify(await bad.json())).to.contain('notes.txt is neither a JPEG, a PNG nor a PDF');
      const after = (await (await server.fhir(`/${task.focus?.reference}`)).json()) as { identifier?: unknown[] };
      expect(after.identifier).to.deep.equal(before.identifier);
      expect((await createExam(formOf(['schema.png']), strangerToken)).status).to.equal(404);
      expect((await createExam(formOf(['schema.png']), await server.token({ scope: 'user/*.rs' }))).status).to.equal(403);
      expect((await createExam(new FormData())).status).to.equal(400);
    });
  });
}
