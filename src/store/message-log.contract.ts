// Behavioural contract every Storage backend must pass (memory twin, PGlite, PostgreSQL): the inbound message log —
// raw kept byte for byte, duplicates by (channel, sender, control id), settlement once, dead letters, replay, rollback.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { NewMessage } from './message-log.js';
import type { StorageContext } from './test-storages.js';

export function messageLogContract(_name: string, ctx: StorageContext): void {
  describe('message log', () => {
    const log = () => ctx.storage().messages;
    let channel: string;
    beforeEach(() => { channel = `test-${randomUUID()}`; });
    const msg = (controlId: string, extra: Partial<NewMessage> = {}): NewMessage => ({
      channel, sender: 'RIS^CHU-X', controlId, messageType: 'ORM^O01', raw: Buffer.from(`MSH|^~\\&|RIS|CHU-X|||||ORM^O01|${controlId}|P|2.5.1\r`, 'latin1'),
      receivedAt: new Date('2026-11-23T10:00:00Z'), partner: 'ris', ...extra,
    });

    it('keeps the raw bytes exactly as received, including non-UTF-8 bytes', async () => {
      const raw = Buffer.from([0x4d, 0x53, 0x48, 0xe9, 0x00, 0xff, 0x0d]);
      const { message } = await log().receive(msg('1', { raw }));
      expect(message).to.include({ status: 'received', controlId: '1', sender: 'RIS^CHU-X', size: 7, partner: 'ris', attempts: 0 });
      expect((await log().raw(message.id))?.equals(raw)).to.equal(true);
    });

    it('records a second message with the same sender and control id as a duplicate carrying the first one\'s ACK', async () => {
      const { message: first } = await log().receive(msg('42'));
      expect(await log().settle(first.id, { status: 'applied', ack: 'ACK-1', result: { written: ['Task/1'] } })).to.equal(true);
      const { message: again, original } = await log().receive(msg('42'));
      expect(again).to.include({ status: 'duplicate', duplicateOf: first.id, ack: 'ACK-1' });
      expect(original).to.include({ id: first.id, status: 'applied' });
      expect(original?.result).to.deep.equal({ written: ['Task/1'] });
      const other = await log().receive(msg('42', { sender: 'RIS^CHU-Y' }));
      expect(other.message.status).to.equal('received');
      expect(other.original).to.equal(undefined);
    });

    it('receives many in order, with duplicates within the batch and of earlier messages recognised', async () => {
      const { message: earlier } = await log().receive(msg('M0'));
      const got = await log().receiveMany([msg('M1'), msg('M0'), msg('M2'), msg('M1'), msg('', { status: 'rejected', error: 'x', ack: 'AR' }),
        msg('', { status: 'rejected', error: 'y', ack: 'AR' })]);
      expect(got.map((g) => g.message.status)).to.deep.equal(['received', 'duplicate', 'received', 'duplicate', 'rejected', 'rejected']);
      expect(got[1].original?.id).to.equal(earlier.id);
      expect(got[3].message.duplicateOf).to.equal(got[0].message.id);
      expect(got.map((g) => g.message.error ?? '')).to.deep.equal(['', '', '', '', 'x', 'y']);
      const ids = [got[0], got[2]].map((g) => Number(g.message.id));
      expect(ids[0]).to.be.lessThan(ids[1]);
      expect(await log().list({ channel })).to.have.length(7);
      expect(await log().receiveMany([])).to.deep.equal([]);
    });

    it('never deduplicates messages whose control id could not be read', async () => {
      const a = await log().receive(msg('', { status: 'rejected', error: 'MSH missing', ack: 'AR' }));
      const b = await log().receive(msg('', { status: 'rejected', error: 'MSH missing', ack: 'AR' }));
      expect([a.message.status, b.message.status]).to.deep.equal(['rejected', 'rejected']);
      expect(a.original).to.equal(undefined);
      expect(b.original).to.equal(undefined);
    });

    it('settles a message once: a second application is refused', async () => {
      const { message } = await log().receive(msg('7'));
      expect(await log().settle(message.id, { status: 'applied', ack: 'AA' })).to.equal(true);
      expect(await log().settle(message.id, { status: 'applied', ack: 'AA' })).to.equal(false);
      const settled = await log().get(message.id);
      expect(settled).to.include({ status: 'applied', ack: 'AA', attempts: 1 });
      expect(settled?.settledAt).to.be.instanceOf(Date);
    });

    it('lists the dead letters newest first and reopens one for replay', async () => {
      const ids: string[] = [];
      for (const n of ['1', '2', '3']) {
        const { message } = await log().receive(msg(n));
        ids.push(message.id);
        await log().settle(message.id, n === '2' ? { status: 'applied', ack: 'AA' } : { status: 'rejected', ack: 'AE', error: `bad ${n}` });
      }
      const dead = await log().list({ channel, status: 'rejected' });
      expect(dead.map((m) => m.error)).to.deep.equal(['bad 3', 'bad 1']);
      expect((await log().list({ channel, before: ids[2], limit: 1 })).map((m) => m.id)).to.deep.equal([ids[1]]);
      expect(await log().reopen(ids[1])).to.equal(false);
      expect(await log().reopen(ids[0])).to.equal(true);
      expect((await log().unsettled(channel, 10)).map((m) => m.id)).to.deep.equal([ids[0]]);
      expect(await log().settle(ids[0], { status: 'applied', ack: 'AA' })).to.equal(true);
      expect(await log().get(ids[0])).to.include({ status: 'applied', attempts: 2 });
      expect(await log().unsettled(channel, 10)).to.deep.equal([]);
    });

    it('rolls a settlement back with the transaction that failed', async () => {
      const { message } = await log().receive(msg('9'));
      let thrown: unknown;
      try {
        await ctx.storage().transaction(async (tx) => {
          expect(await tx.messages.settle(message.id, { status: 'applied', ack: 'AA' })).to.equal(true);
          throw new Error('application failed after the mark');
        });
      } catch (e) {
        thrown = e;
      }
      expect(thrown).to.be.instanceOf(Error);
      expect(await log().get(message.id)).to.include({ status: 'received', attempts: 0 });
    });

    it('takes a resend of a rejected message as a new attempt, after which the rejected one cannot be replayed', async () => {
      const { message: refused } = await log().receive(msg('77'));
      await log().settle(refused.id, { status: 'rejected', ack: 'AE', error: 'unknown order' });
      const { message: resent, original } = await log().receive(msg('77'));
      expect(resent.status).to.equal('received');
      expect(original).to.equal(undefined);
      expect(await log().reopen(refused.id)).to.equal(false);
      const { message: third } = await log().receive(msg('77'));
      expect(third).to.include({ status: 'duplicate', duplicateOf: resent.id });
    });

    it('links a corrected replay to the message it replaces', async () => {
      const { message: bad } = await log().receive(msg('5'));
      const { message: fixed } = await log().receive(msg('5-fixed', { replayOf: bad.id }));
      expect(fixed.replayOf).to.equal(bad.id);
      expect(await log().get('no-such-id')).to.equal(undefined);
    });
  });
}
