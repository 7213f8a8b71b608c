// PS3.10 §7.1 File Meta Information read incrementally: the UIDs, and the data set bytes handed on untouched.
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import dcmjs from 'dcmjs';
import { hasPart10Prefix, Part10FormatError, readPart10Stream } from './part10-stream.js';

const FIXTURES = fileURLToPath(new URL('../../../shared/fixtures/pydicom-testdata/', import.meta.url));

/** The bytes in chunks of `size` (1 byte at a time exercises every partial read). */
async function* chunked(bytes: Buffer, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function collect(source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of source) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}

/** The meta group as dcmjs reads it, the reference for what our incremental reader must find. */
function dcmjsMeta(bytes: Buffer): { ts: string; sopClass: string; sopInstance: string } {
  const file = dcmjs.data.DicomMessage.readFile(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, { untilTag: '00080005' });
  const v = (tag: string) => String((file.meta[tag].Value as unknown[])[0]);
  return { ts: v('00020010'), sopClass: v('00020002'), sopInstance: v('00020003') };
}

/** A hand-made Part 10 header: preamble, DICM, then the given explicit VR little endian group 0002 elements. */
function header(elements: { element: number; vr: string; value: Buffer }[], groupLength?: number): Buffer {
  const parts = elements.map(({ element, vr, value }) => {
    const h = Buffer.alloc(8);
    h.writeUInt16LE(2, 0);
    h.writeUInt16LE(element, 2);
    h.write(vr, 4, 'latin1');
    h.writeUInt16LE(value.length, 6);
    return Buffer.concat([h, value]);
  });
  const body = Buffer.concat(parts);
  const gl = Buffer.from([0x02, 0, 0, 0, 0x55, 0x4c, 4, 0, 0, 0, 0, 0]);
  gl.writeUInt32LE(groupLength ?? body.length, 8);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), gl, body]);
}

const ui = (s: string) => Buffer.from(s.length % 2 ? `${s}\0` : s, 'latin1');
const ELEMENTS = [
  { element: 0x0002, vr: 'UI', value: ui('1.2.840.10008.5.1.4.1.1.7') },
  { element: 0x0003, vr: 'UI', value: ui('1.2.3.4.5') },
  { element: 0x0010, vr: 'UI', value: ui('1.2.840.10008.1.2.1') },
];

describe('Part 10 stream splitting (PS3.10 File Meta Information)', () => {
  describe('the pydicom test files', () => {
    const names = readdirSync(FIXTURES).filter((n) => n.endsWith('.dcm') && n !== 'no_meta.dcm' && n !== 'MR_truncated.dcm');
    for (const name of names) {
      it(`${name}: finds the meta UIDs dcmjs finds and hands on every byte after the group, read 1 and 4096 bytes at a time`, async () => {
        const bytes = await readFile(`${FIXTURES}${name}`);
        const expected = dcmjsMeta(bytes);
        for (const size of [1, 4096]) {
          const { meta, dataset } = await readPart10Stream(chunked(bytes, size));
          expect({ ts: meta.transferSyntaxUid, sopClass: meta.sopClassUid, sopInstance: meta.sopInstanceUid }).to.deep.equal(expected);
          expect(meta.headerLength).to.equal(132 + 12 + bytes.readUInt32LE(140));
          expect((await collect(dataset)).equals(bytes.subarray(meta.headerLength))).to.equal(true);
        }
      });
    }
  });

  it('says not-part10 for a data set without preamble (no_meta.dcm), a short file and an empty one', async () => {
    for (const bytes of [await readFile(`${FIXTURES}no_meta.dcm`), Buffer.from('hello'), Buffer.alloc(0)]) {
      const err = await readPart10Stream(chunked(bytes, 7)).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(Part10FormatError);
      expect((err as Part10FormatError).kind).to.equal('not-part10');
    }
    expect(hasPart10Prefix(await readFile(`${FIXTURES}CT_small.dcm`))).to.equal(true);
    expect(hasPart10Prefix(await readFile(`${FIXTURES}no_meta.dcm`))).to.equal(false);
  });

  it('names the missing Type 1 element of a meta group without Transfer Syntax UID or SOP Instance UID', async () => {
    for (const [missing, text] of [[0x0010, 'Transfer Syntax UID'], [0x0003, 'Media Storage SOP Instance UID']] as const) {
      const err = await readPart10Stream(chunked(header(ELEMENTS.filter((e) => e.element !== missing)), 5)).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(Part10FormatError);
      expect((err as Part10FormatError).kind).to.equal('malformed');
      expect((err as Error).message).to.contain(text);
    }
  });

  it('reports a meta group cut short, or one that never ends, as malformed rather than reading on', async () => {
    const whole = header(ELEMENTS);
    const cut = await readPart10Stream(chunked(whole.subarray(0, whole.length - 4), 3)).catch((e: unknown) => e);
    expect((cut as Error).message).to.contain('truncated');
    // (0002,0102) Private Information, OB, announcing 1 MiB: the reader refuses to buffer past its meta limit.
    const ob = Buffer.from([0x02, 0x00, 0x02, 0x01, 0x4f, 0x42, 0, 0, 0, 0, 0x10, 0]);
    const long = await readPart10Stream(chunked(Buffer.concat([whole, ob, Buffer.alloc(2 * 1024 * 1024)]), 65536)).catch((e: unknown) => e);
    expect((long as Error).message).to.contain('longer than');
  });

  it('reads on past a Group Length that is too short, and stops at the data set', async () => {
    const dataset = Buffer.from([0x08, 0x00, 0x05, 0x00, 0x43, 0x53, 0x0a, 0x00, ...Buffer.from('ISO_IR 100')]);
    const bytes = Buffer.concat([header(ELEMENTS, 10), dataset]);
    const { meta, dataset: rest } = await readPart10Stream(chunked(bytes, 2));
    expect(meta.transferSyntaxUid).to.equal('1.2.840.10008.1.2.1');
    expect(meta.sopInstanceUid).to.equal('1.2.3.4.5');
    expect((await collect(rest)).equals(dataset)).to.equal(true);
  });

  it('trusts the Group Length before a deflated data set, whose first bytes may look like a group 0002 tag', async () => {
    const deflated = ELEMENTS.map((e) => (e.element === 0x0010 ? { ...e, value: ui('1.2.840.10008.1.2.1.99') } : e));
    const compressed = Buffer.from([0x02, 0x00, 0x10, 0x00, 0x55, 0x49, 0x02, 0x00, 0x31, 0x00]);
    const { meta, dataset } = await readPart10Stream(chunked(Buffer.concat([header(deflated), compressed]), 3));
    expect(meta.transferSyntaxUid).to.equal('1.2.840.10008.1.2.1.99');
    expect((await collect(dataset)).equals(compressed)).to.equal(true);
  });
});
