// STOW-RS (PS3.18 §10.5) through a real platform on port 0, driven by fetch (streamed bodies) and curl: per-instance
// outcomes in the Store Instances Response, idempotent resends, conflicts, every pydicom test file, bounded memory.
import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { AuditEvent, Bundle } from '@medplum/fhirtypes';
import { expect } from 'chai';
import type { DicomJson } from '../../imaging/dicom-json.js';
import { dicomwebBaseOf } from '../../workflow/imaging/imaging-study-sync.js';
import { httpBackends, startTestServer, type TestServer } from '../test-server.js';
import { ctSeries, stow, stowBody, STOW_BOUNDARY, STOW_CONTENT_TYPE, type StowPart } from './test-stow-client.js';

const FIXTURES = fileURLToPath(new URL('../../../../shared/fixtures/pydicom-testdata/', import.meta.url));

/** Runs curl; resolves to the HTTP status and the body. */
function curl(args: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => execFile('curl', ['-sS', '-w', '\n%{http_code}', ...args], { maxBuffer: 64 * 1024 * 1024 }, (e, stdout) => {
    if (e) return reject(e);
    const cut = stdout.lastIndexOf('\n');
    resolve({ status: Number(stdout.slice(cut + 1)), body: stdout.slice(0, cut) });
  }));
}

const items = (json: DicomJson, tag: string): DicomJson[] => (json[tag]?.Value ?? []) as DicomJson[];
const first = (json: DicomJson, tag: string): unknown => json[tag]?.Value?.[0];

for (const backend of httpBackends()) {
  describe(`STOW-RS (${backend})`, function () {
    this.timeout(120_000);
    let server: TestServer;
    let studies: string;
    before(async () => {
      server = await startTestServer(backend);
      studies = `${server.platform.url}/dicomweb/studies`;
    });
    after(() => server?.close());

    const post = async (parts: (StowPart | Uint8Array)[], opts: { url?: string; token?: string | null; contentType?: string; accept?: string } = {}) => {
      const token = opts.token === null ? undefined : opts.token ?? await server.token();
      const res = await stow(opts.url ?? studies, stowBody(parts), { token, contentType: opts.contentType, accept: opts.accept });
      const text = await res.text();
      return { res, json: (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : {}) as DicomJson };
    };

    it('stores a multi-instance request (200) and answers each instance with its Retrieve URL', async () => {
      const series = ctSeries({ rows: 64, columns: 64 });
      const files = [series.next(), series.next(), series.next()];
      const { res, json } = await post(files);
      expect(res.status, JSON.stringify(json)).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^application\/dicom\+json/);
      const base = dicomwebBaseOf(server.base.replace('127.0.0.1', 'localhost')); // the platform's FHIR base names localhost
      expect(first(json, '00081190')).to.equal(`${base}/studies/${series.studyInstanceUid}`);
      const refs = items(json, '00081199');
      expect(refs.map((r) => first(r, '00081155'))).to.deep.equal(series.sopInstanceUids);
      expect(first(refs[1], '00081190')).to.equal(`${base}/studies/${series.studyInstanceUid}/series/${series.seriesInstanceUid}/instances/${series.sopInstanceUids[1]}`);
      expect(json['00081198']).to.equal(undefined);
      await server.platform.jobs.drain();
      const events = ((await (await server.fhir('/AuditEvent?_count=500')).json()) as Bundle<AuditEvent>).entry?.map((e) => e.resource as AuditEvent) ?? [];
      const mine = events.filter((e) => e.entity?.some((x) => x.what?.reference === `urn:oid:${series.sopInstanceUids[0]}`));
      expect(mine.map((e) => e.agent[0].altId)).to.include('tester'); // the authenticated user, not an AE title
    });

    it('accepts an identical resend idempotently (200), with nothing quarantined', async () => {
      const series = ctSeries({ rows: 32, columns: 32 });
      const file = series.next();
      expect((await post([file])).res.status).to.equal(200);
      const again = await post([file]);
      expect(again.res.status).to.equal(200);
      expect(items(again.json, '00081199').map((r) => first(r, '00081155'))).to.deep.equal(series.sopInstanceUids);
      const quarantine = await (await fetch(`${server.platform.url}/operator/dicom-quarantine?limit=1000`, { headers: { Authorization: `Bearer ${await server.token()}` } })).json() as { entries: { sopInstanceUid?: string }[] };
      expect(quarantine.entries.filter((q) => q.sopInstanceUid === series.sopInstanceUids[0])).to.deep.equal([]);
    });

    it('keeps the first of two different objects with one SOP Instance UID: 202, warning B000, newcomer quarantined', async () => {
      const series = ctSeries({ rows: 32, columns: 32 });
      const a = series.next();
      const uid = series.sopInstanceUids[0];
      const b = Buffer.from(a);
      b.writeUInt8(b[b.length - 1] ^ 0xff, b.length - 1); // one pixel differs
      expect((await post([a])).res.status).to.equal(200);
      const { res, json } = await post([b]);
      expect(res.status).to.equal(202);
      const [ref] = items(json, '00081199');
      expect(first(ref, '00081155')).to.equal(uid);
      expect(first(ref, '00081196')).to.equal(0xb000);
      const list = await (await fetch(`${server.platform.url}/operator/dicom-quarantine?reason=conflict`, { headers: { Authorization: `Bearer ${await server.token()}` } })).json() as { entries: { sopInstanceUid?: string; callingAe: string }[] };
      expect(list.entries.find((q) => q.sopInstanceUid === uid)).to.deep.include({ callingAe: 'STOW-RS' });
    });

    it('fails an instance of another study on /studies/{study} (A900) and answers 409 when none is stored', async () => {
      const series = ctSeries({ rows: 32, columns: 32 });
      const other = '1.2.3.4.5.6.7.8.9';
      const { res, json } = await post([series.next()], { url: `${studies}/${other}` });
      expect(res.status).to.equal(409);
      const [failed] = items(json, '00081198');
      expect(first(failed, '00081155')).to.equal(series.sopInstanceUids[0]);
      expect(first(failed, '00081197')).to.equal(0xa900);
      expect(first(failed, '00000902')).to.equal(`not of the target study ${other}: Study Instance UID ${series.studyInstanceUid}`);
      const ok = await post([series.next()], { url: `${studies}/${series.studyInstanceUid}` });
      expect(ok.res.status).to.equal(200);
    });

    it('reports mixed outcomes part by part (202): stored, not application/dicom, not a Part 10 file', async () => {
      const series = ctSeries({ rows: 32, columns: 32 });
      const { res, json } = await post([
        series.next(),
        { bytes: Buffer.from('{"not":"dicom"}'), contentType: 'application/json' },
        { bytes: Buffer.from('plain text, no preamble, no DICM') },
      ]);
      expect(res.status).to.equal(202);
      expect(items(json, '00081199')).to.have.length(1);
      const others = items(json, '0008119A');
      expect(others.map((o) => first(o, '00081197'))).to.deep.equal([0xc000, 0xc000]);
      expect(first(others[0], '00000902')).to.equal('part 2: application/json is not application/dicom');
      expect(first(others[1], '00000902')).to.match(/^part 3: not a DICOM Part 10 file/);
    });

    describe('every file of pydicom-testdata', () => {
      // What each file becomes by STOW-RS: stored, or a failure whose comment names the problem.
      const expected: Record<string, { status: number; failure?: RegExp; other?: RegExp }> = {
        'CT_small.dcm': { status: 200 },
        'JPEG-lossy.dcm': { status: 200 },
        'JPEG2000.dcm': { status: 200 },
        'MR_small.dcm': { status: 200 },
        'MR_small_RLE.dcm': { status: 200 },
        'MR_small_bigendian.dcm': { status: 200 },
        'MR_small_implicit.dcm': { status: 200 },
        'test-SR.dcm': { status: 200 },
        'MR_truncated.dcm': { status: 409, failure: /^Pixel Data \(7FE0,0010\) declares 8192 bytes, 8130 present$/ },
        // Its File Meta says SOP Instance UID 1.2.999…, its data set 1.9.999…: which one is meant cannot be known.
        'badVR.dcm': { status: 409, failure: /^data set SOP Instance UID 1\.9\.999\.999\.99\.9\.9999\.9999\.20030818153516 differs/ },
        'no_meta.dcm': { status: 409, other: /^part 1: not a DICOM Part 10 file: no "DICM" prefix/ },
      };
      for (const [file, want] of Object.entries(expected)) {
        it(`${file}: ${want.status}`, async () => {
          // The MR_small variants share one SOP Instance UID: the first is stored, the others come back as kept-first
          // duplicates (B000), which they become only once read whole (structure checked, metadata parsed).
          const bytes = await readFile(join(FIXTURES, file));
          const { res, json } = await post([bytes]);
          if (file.startsWith('MR_small') && res.status === 202) {
            expect(first(items(json, '00081199')[0], '00081196')).to.equal(0xb000); // another MR_small variant came first
            return;
          }
          expect(res.status, JSON.stringify(json)).to.equal(want.status);
          if (want.failure) expect(first(items(json, '00081198')[0], '00000902')).to.match(want.failure);
          if (want.other) expect(first(items(json, '0008119A')[0], '00000902')).to.match(want.other);
        });
      }
    });

    it('refuses what is not a STOW-RS request: 415, 400, 406', async () => {
      const file = ctSeries({ rows: 16, columns: 16 }).next();
      expect((await post([file], { contentType: 'application/dicom' })).res.status).to.equal(415);
      const meta = await post([file], { contentType: `multipart/related; type="application/dicom+json"; boundary=${STOW_BOUNDARY}` });
      expect(meta.res.status).to.equal(415);
      expect(JSON.stringify(meta.json)).to.match(/metadata and bulk data/);
      expect((await post([file], { contentType: 'multipart/related; type="application/dicom"' })).res.status).to.equal(400);
      expect((await post([file], { accept: 'application/dicom+xml' })).res.status).to.equal(406);
      expect((await post([file], { url: `${studies}/not-a-uid` })).res.status).to.equal(400);
      const token = await server.token();
      const cut = await fetch(studies, {
        method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': `multipart/related; type="application/dicom"; boundary=${STOW_BOUNDARY}` },
        body: Buffer.concat([Buffer.from(`--${STOW_BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n`), file.subarray(0, 1000)]),
      });
      expect(cut.status).to.equal(400);
      expect(await cut.text()).to.match(/ends before its closing boundary/);
    });

    it('requires a token (401) and the create scope on ImagingStudy (403)', async () => {
      const file = ctSeries({ rows: 16, columns: 16 }).next();
      expect((await post([file], { token: null })).res.status).to.equal(401);
      expect((await post([file], { token: await server.token({ scope: 'system/ImagingStudy.rs' }) })).res.status).to.equal(403);
    });

    it('takes a body sent by curl', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'stow-curl-'));
      try {
        const series = ctSeries({ rows: 16, columns: 16 });
        const body = join(dir, 'body');
        const chunks: Buffer[] = [];
        for await (const c of stowBody([series.next(), series.next()])) chunks.push(c);
        await writeFile(body, Buffer.concat(chunks));
        const { status, body: json } = await curl(['-X', 'POST', '--data-binary', `@${body}`,
          '-H', `Content-Type: ${STOW_CONTENT_TYPE}`, '-H', 'Accept: application/dicom+json', '-H', `Authorization: Bearer ${await server.token()}`, studies]);
        expect(status).to.equal(200);
        expect(items(JSON.parse(json) as DicomJson, '00081199')).to.have.length(2);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });

    it('streams a large request in bounded memory: live heap + external bytes grow by under 64 MB for a 160 MB body', async function () {
      this.timeout(300_000);
      // Live memory (after a full GC) of this process, where the server runs: a sanity bound that the body is never
      // held whole (RSS is the bench's). The client is curl streaming a file (-T): fetch keeps what it sent.
      setFlagsFromString('--expose_gc');
      const gc = runInNewContext('gc') as () => void;
      const live = (): number => {
        gc();
        const m = process.memoryUsage();
        return m.heapUsed + m.external;
      };
      const dir = await mkdtemp(join(tmpdir(), 'stow-large-'));
      try {
        const series = ctSeries();
        const count = 300;
        const file = join(dir, 'body');
        const out = createWriteStream(file);
        async function* lazy(): AsyncGenerator<Uint8Array> {
          for (let i = 0; i < count; i++) yield series.next();
        }
        await pipeline(Readable.from(stowBody(lazy())), out);
        expect(count * series.size).to.be.greaterThan(150e6);
        const before = live();
        let peak = before;
        const timer = setInterval(() => { peak = Math.max(peak, live()); }, 250);
        try {
          const { status, body } = await curl(['-T', file, '-X', 'POST', '-H', `Content-Type: ${STOW_CONTENT_TYPE}`, '-H', `Authorization: Bearer ${await server.token()}`, studies]);
          expect(status).to.equal(200);
          expect(items(JSON.parse(body) as DicomJson, '00081199')).to.have.length(count);
        } finally {
          clearInterval(timer);
        }
        expect((peak - before) / 1e6).to.be.lessThan(64);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}
