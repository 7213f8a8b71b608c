// Gazelle-style replay of our HL7 v2 fixtures (fixtures/hl7v2/<message>/<case>.hl7 + .expected.json, format in
// fixtures/hl7v2/README.md) through the real MLLP listener and the registered routes: the ACK code, the first ERR
// (ERR-2 location, ERR-3 Table 0357 code), what was written, and the dossier's state.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Encounter, Task } from '@medplum/fhirtypes';
import { expect } from 'chai';
import { erl } from '../src/hl7v2/acknowledgment.js';
import type { Hl7Partner } from '../src/hl7v2/hl7-partner.js';
import { hl7Routes } from '../src/hl7v2/hl7-routes.js';
import { checkStructure } from '../src/hl7v2/hl7-structures.js';
import { field, rawClient, startHarness } from '../src/hl7v2/test-mllp.js';
import { SYSTEM_PRINCIPAL } from '../src/kernel/principal.js';
import { applyTransition } from '../src/workflow/teleexpertise/transition.js';
import { EXPERT, PRINCIPALS, PROTOCOL, ctxOf } from '../src/workflow/teleexpertise/test-directory.js';
import { DOSSIER_STATUS_SYSTEM } from '../src/workflow/teleexpertise/workflow-definition.js';

const FIXTURES = new URL('../fixtures/hl7v2/', import.meta.url).pathname;

interface Expected {
  description: string;
  partner?: { orderOwner?: string | null; name?: string; application?: string; facility?: string; organizations?: string[] };
  given?: string[];
  ack: 'AA' | 'AE' | 'AR';
  error?: { code: string | number; location?: string };
  written?: Record<string, number>;
  writes?: string[];
  dossier?: { state: string; statusReason?: string };
  /** Encounter.status of the ANS examples' visit (000897406, authority CHU-X) after the message. */
  visit?: { status: string };
}

/** The fixtures' partner: MSH-3/4 of the ANS examples, its orders addressed to the test directory's expert. */
const PARTNER: Hl7Partner = {
  name: 'ris-test', application: 'StructureApp', facility: 'StructureFacility', charset: 'UNICODE UTF-8',
  ackMode: 'original', reportMessage: 'MDM', orderOwner: EXPERT, organizations: [],
};

/** Other senders of our fixtures (PAM-FR examples): accepted as partners too. */
function partnersFor(text: string, p: Hl7Partner): Hl7Partner[] {
  const msh = text.split(/\r\n|\r|\n/)[0].split('|');
  const app = (msh[2] ?? '').split('^')[0];
  const fac = (msh[3] ?? '').split('^')[0];
  return app === p.application && fac === p.facility ? [p] : [p, { ...p, name: 'gam-test', application: app, facility: fac }];
}

const cr = (text: string) => text.replace(/\r\n|\n/g, '\r').replace(/\r+$/, '');

describe('HL7 v2 fixtures replayed over MLLP (conformance)', function () {
  this.timeout(60_000);
  if (!existsSync(FIXTURES)) return;
  for (const folder of readdirSync(FIXTURES).filter((f) => !f.includes('.')).sort()) {
    for (const file of readdirSync(join(FIXTURES, folder)).filter((f) => f.endsWith('.hl7')).sort()) {
      const expectedFile = join(FIXTURES, folder, file.replace(/\.hl7$/, '.expected.json'));
      if (!existsSync(expectedFile)) continue;
      const expected = JSON.parse(readFileSync(expectedFile, 'utf8')) as Expected;
      it(`${folder}/${file}: ${expected.description}`, async () => {
        const text = cr(readFileSync(join(FIXTURES, folder, file), 'utf8'));
        const { orderOwner, ...rest } = expected.partner ?? {};
        const base: Hl7Partner = { ...PARTNER, ...rest, ...(expected.partner && 'orderOwner' in expected.partner ? { orderOwner: orderOwner ?? undefined } : {}) };
        const given = (expected.given ?? []).filter((g) => g.endsWith('.hl7')).map((g) => cr(readFileSync(join(FIXTURES, g), 'utf8')));
        const partners = [...new Map([text, ...given].flatMap((t) => partnersFor(t, base)).map((p) => [`${p.application}^${p.facility}`, p])).values()];
        const h = await startHarness({ routes: hl7Routes(), partners, checks: [checkStructure] });
        try {
          const c = await rawClient(h.listener.port);
          for (const step of expected.given ?? []) {
            if (step.endsWith('.hl7')) {
              c.send(cr(readFileSync(join(FIXTURES, step), 'utf8')));
              const [ack] = await c.replies(1);
              expect(field(ack, 'MSA', 1), `given ${step}: ${field(ack, 'ERR', 8)}`).to.equal('AA');
              continue;
            }
            const [task] = (await h.svc.search({ principal: SYSTEM_PRINCIPAL }, 'Task', { code: ['teleradiologie'] })).resources as Task[];
            await applyTransition({ svc: h.svc }, ctxOf(PRINCIPALS.requis), task.id as string, step, { protocol: PROTOCOL });
          }
          c.send(text);
          const [ack] = await c.replies(1);
          c.end();
          expect(field(ack, 'MSA', 1), field(ack, 'ERR', 8)).to.equal(expected.ack);
          if (expected.error) {
            expect(field(ack, 'ERR', 3).split('^')[0]).to.equal(String(expected.error.code));
            if (expected.error.location) expect(field(ack, 'ERR', 2)).to.equal(erl(expected.error.location));
          }
          const [logged] = await h.svc.messages.list({ channel: 'hl7v2', limit: 1 });
          expect(logged.status).to.equal(expected.ack === 'AA' ? 'applied' : 'rejected');
          const written = ((logged.result?.written ?? []) as string[]);
          const counts: Record<string, number> = {};
          for (const ref of written) counts[ref.split('/')[0]] = (counts[ref.split('/')[0]] ?? 0) + 1;
          if (expected.written) expect(counts).to.deep.equal(expected.written);
          if (expected.writes) expect(Object.keys(counts).sort()).to.deep.equal([...new Set(expected.writes)].sort());
          if (expected.visit) {
            const encounters = (await h.svc.search({ principal: SYSTEM_PRINCIPAL }, 'Encounter', { identifier: ['000897406'] })).resources as Encounter[];
            expect(encounters.map((e) => e.status)).to.deep.equal([expected.visit.status]);
          }
          if (expected.dossier) {
            const [task] = (await h.svc.search({ principal: SYSTEM_PRINCIPAL }, 'Task', { code: ['teleradiologie'] })).resources as Task[];
            expect(task?.businessStatus?.coding?.find((x) => x.system === DOSSIER_STATUS_SYSTEM)?.code).to.equal(expected.dossier.state);
            if (expected.dossier.statusReason) expect(task?.statusReason?.text).to.equal(expected.dossier.statusReason);
          }
        } finally {
          await h.close();
        }
      });
    }
  }
});
