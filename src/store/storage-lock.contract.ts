// Contract of Storage.lock, the key lock that serialises transactions until commit (used by FHIR R4 §3.1.0.8
// conditional create, http.html#ccreate, so that a match-or-create never duplicates): every backend passes it.
import { randomUUID } from 'node:crypto';
import { expect } from 'chai';
import type { Patient } from '@medplum/fhirtypes';
import { searchOf, type StorageContext } from './test-storages.js';

const SYS = 'urn:teleo:test:lock';
const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Resolves with `p`, or rejects when it takes longer than `ms` (a lock that never comes back). */
function within<T>(p: Promise<T>, ms: number): Promise<T> {
  return Promise.race([p, new Promise<T>((_r, reject) => setTimeout(() => reject(new Error(`still waiting after ${ms} ms`)), ms).unref())]);
}

export function storageLockContract(ctx: StorageContext): void {
  describe('Storage.lock', () => {
    const patients = async (value: string) => (await ctx.storage().resources.search(searchOf('Patient', `identifier=${SYS}|${value}`))).resources;

    it('makes a second transaction on the key wait for the first one\'s commit, then see its writes', async () => {
      const key = `Patient?identifier=${SYS}|${randomUUID()}`;
      const value = randomUUID();
      let firstHolds!: () => void;
      const holding = new Promise<void>((resolve) => { firstHolds = resolve; });
      const order: string[] = [];
      const first = ctx.storage().transaction(async (tx) => {
        await tx.lock(key);
        firstHolds();
        await pause(100);
        await tx.resources.create<Patient>({ resourceType: 'Patient', identifier: [{ system: SYS, value }] });
        order.push('first committed');
      });
      await holding;
      const second = ctx.storage().transaction(async (tx) => {
        await tx.lock(key);
        order.push('second holds');
        return (await tx.resources.search(searchOf('Patient', `identifier=${SYS}|${value}`))).resources.length;
      });
      const [, seen] = await Promise.all([first, second]);
      expect(order).to.deep.equal(['first committed', 'second holds']);
      expect(seen).to.equal(1);
    });

    it('turns concurrent look-up-then-create transactions into exactly one create', async () => {
      const value = randomUUID();
      const key = `Patient?identifier=${SYS}|${value}`;
      const attempt = () => ctx.storage().transaction(async (tx) => {
        await tx.lock(key);
        const found = await tx.resources.search(searchOf('Patient', `identifier=${SYS}|${value}`));
        if (found.resources.length > 0) return false;
        await pause(20);
        await tx.resources.create<Patient>({ resourceType: 'Patient', identifier: [{ system: SYS, value }] });
        return true;
      });
      const created = await Promise.all(Array.from({ length: 6 }, attempt));
      expect(created.filter(Boolean)).to.have.length(1);
      expect(await patients(value)).to.have.length(1);
    });

    it('is re-entrant within one transaction', async () => {
      const key = `k-${randomUUID()}`;
      await within(ctx.storage().transaction(async (tx) => {
        await tx.lock(key);
        await tx.lock(key);
      }), 5000);
    });

    it('is released when the holding transaction rolls back', async () => {
      const key = `k-${randomUUID()}`;
      const failed = ctx.storage().transaction(async (tx) => {
        await tx.lock(key);
        throw new Error('roll back');
      });
      const error = await failed.then(() => undefined, (e: unknown) => e);
      expect(String(error)).to.contain('roll back');
      await within(ctx.storage().transaction((tx) => tx.lock(key)), 5000);
    });

    it('lets a transaction proceed once the key is released outside any transaction', async () => {
      await within(ctx.storage().lock(`k-${randomUUID()}`), 5000);
    });
  });
}
