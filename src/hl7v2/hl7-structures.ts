// HL7 v2.5.1 abstract message syntax (§2.12, chapters 2–4 and 9) as data, with the CI-SIS constraints we rely on: segment
// order and cardinality, required fields, valid base64 in ED fields, and MSH-21. Checks both what we receive and send.
import type { Hl7Message } from '@medplum/core';
import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import { hl7Issue } from './hl7-field-errors.js';

/** A segment or a group, `min`..`max` times (`max` 0 = unbounded). */
export type Item = { seg: string; min?: 0 | 1; max?: 0 | 1 } | { group: Item[]; min?: 0 | 1; max?: 0 | 1 };

const s = (seg: string, min: 0 | 1 = 1, max: 0 | 1 = 1): Item => ({ seg, min, max });
const opt = (seg: string) => s(seg, 0, 1);
const rep = (seg: string) => s(seg, 0, 0);
const g = (group: Item[], min: 0 | 1 = 1, max: 0 | 1 = 1): Item => ({ group, min, max });

const OBSERVATIONS = g([s('OBX'), rep('NTE')], 0, 0);
const ADT_VISIT: Item[] = [s('MSH'), rep('SFT'), s('EVN'), s('PID'), opt('PD1'), rep('ROL'), rep('NK1'), s('PV1'), opt('PV2'), rep('ROL'),
  rep('DB1'), rep('OBX'), rep('AL1'), rep('DG1'), opt('DRG'), g([s('PR1'), rep('ROL')], 0, 0), rep('GT1'),
  g([s('IN1'), opt('IN2'), rep('IN3'), rep('ROL')], 0, 0), opt('ACC'), opt('UB1'), opt('UB2'), opt('PDA')];

/** Message structures by MSH-9.3 (HL7 Table 0354). Z segments (national extensions: ZBE, ZFA…) may appear anywhere. */
export const STRUCTURES: Readonly<Record<string, Item[]>> = {
  ORM_O01: [s('MSH'), rep('NTE'), g([s('PID'), opt('PD1'), rep('NTE'), g([s('PV1'), opt('PV2')], 0), g([s('IN1'), opt('IN2'), opt('IN3')], 0, 0),
    opt('GT1'), rep('AL1')], 0), g([s('ORC'), g([s('OBR'), rep('NTE'), opt('CTD'), rep('DG1'), OBSERVATIONS], 0), rep('FT1'), rep('CTI'), opt('BLG')], 1, 0)],
  OMI_O23: [s('MSH'), rep('NTE'), g([s('PID'), opt('PD1'), rep('NTE'), g([s('PV1'), opt('PV2')], 0), g([s('IN1'), opt('IN2'), opt('IN3')], 0, 0),
    opt('GT1'), rep('AL1')], 0), g([s('ORC'), g([s('TQ1'), rep('TQ2')], 0, 0), s('OBR'), rep('NTE'), opt('CTD'), rep('DG1'), OBSERVATIONS, g([s('IPC')], 1, 0)], 1, 0)],
  ORU_R01: [s('MSH'), g([g([s('PID'), opt('PD1'), rep('NTE'), rep('NK1'), g([s('PV1'), opt('PV2')], 0)], 0),
    g([opt('ORC'), s('OBR'), rep('NTE'), g([s('TQ1'), rep('TQ2')], 0, 0), opt('CTD'), g([s('OBX'), rep('NTE'), rep('PRT')], 0, 0), rep('FT1'), rep('CTI'), rep('PRT')], 1, 0)], 1, 0), opt('DSC')],
  MDM_T02: [s('MSH'), rep('SFT'), s('EVN'), s('PID'), s('PV1'), g([s('ORC'), g([s('TQ1'), rep('TQ2')], 0, 0), s('OBR'), rep('NTE')], 0, 0), s('TXA'),
    rep('CON'), g([s('OBX'), rep('NTE'), rep('PRT')], 1, 0)],
  ACK: [s('MSH'), rep('SFT'), s('MSA'), rep('ERR')],
  ADT_A01: ADT_VISIT,
  // PAM-FR identity messages (A28, A31) use ADT_A05 and may leave PV1 out (there is no visit): accepted.
  ADT_A05: ADT_VISIT.map((i) => ('seg' in i && i.seg === 'PV1' ? opt('PV1') : i)),
  ADT_A03: [s('MSH'), rep('SFT'), s('EVN'), s('PID'), opt('PD1'), rep('ROL'), rep('NK1'), s('PV1'), opt('PV2'), rep('ROL'), rep('DB1'), rep('AL1'),
    rep('DG1'), opt('DRG'), g([s('PR1'), rep('ROL')], 0, 0), rep('OBX')],
  ADT_A09: [s('MSH'), rep('SFT'), s('EVN'), s('PID'), opt('PD1'), s('PV1'), opt('PV2'), rep('DB1'), rep('OBX'), rep('DG1')],
  ADT_A39: [s('MSH'), rep('SFT'), s('EVN'), g([s('PID'), opt('PD1'), s('MRG'), opt('PV1')], 1, 0)],
  ADT_A30: [s('MSH'), rep('SFT'), s('EVN'), s('PID'), opt('PD1'), s('MRG')],
};

/** MSH-9.3 when the sender leaves it empty (HL7 v2.5.1 Table 0354 for the events we take and send). */
const BY_EVENT: Record<string, string> = {
  'ORM^O01': 'ORM_O01', 'OMI^O23': 'OMI_O23', 'ORU^R01': 'ORU_R01', 'MDM^T02': 'MDM_T02', 'MDM^T10': 'MDM_T02', 'MDM^T04': 'MDM_T02',
  'ADT^A01': 'ADT_A01', 'ADT^A04': 'ADT_A01', 'ADT^A08': 'ADT_A01', 'ADT^A03': 'ADT_A03', 'ADT^A05': 'ADT_A05', 'ADT^A28': 'ADT_A05',
  'ADT^A31': 'ADT_A05', 'ADT^A11': 'ADT_A09', 'ADT^A40': 'ADT_A39', 'ADT^A47': 'ADT_A30',
};

/** Fields required per segment (HL7 R, and the CI-SIS profiles' R for those we rely on). */
const REQUIRED: Record<string, number[]> = {
  MSH: [7, 9, 10, 11, 12], PID: [3, 5], PV1: [2], ORC: [1], OBR: [4], OBX: [2, 3], TXA: [2, 3, 12, 17], MSA: [1, 2], EVN: [2],
  IPC: [1, 2, 3, 4], MRG: [1], PRT: [4],
};

/** MSH-21 (message profile) the CI-SIS volets require. */
const PROFILES: Record<string, string> = {
  ORM_O01: '1.0^CISIS_TLR_HL7_V2', OMI_O23: '1.0^CISIS_TLR_HL7_V2', MDM_T02: '2.1^CISIS_CDA_HL7_V2',
};

interface Progress {
  /** The furthest index read. */
  at: number;
  /** Per position, the required segments that were expected there and not found. */
  wanted: Map<number, Set<string>>;
}

/** Positions reachable after matching `items` in sequence from each start (an NFA over segment names). */
function run(items: readonly Item[], names: readonly string[], starts: Set<number>, far: Progress): Set<number> {
  let positions = starts;
  for (const item of items) {
    const once = (from: Set<number>): Set<number> => {
      if ('seg' in item) {
        const out = new Set<number>();
        for (const p of from) {
          if (names[p] === item.seg) {
            out.add(p + 1);
            far.at = Math.max(far.at, p + 1);
          } else if (item.min !== 0) {
            far.wanted.set(p, (far.wanted.get(p) ?? new Set()).add(item.seg));
          }
        }
        return out;
      }
      return run(item.group, names, from, far);
    };
    let reached = new Set<number>(item.min === 0 ? positions : []);
    let frontier = once(positions);
    for (const p of frontier) reached.add(p);
    if (item.max === 0) {
      while (frontier.size) {
        const next = new Set([...once(frontier)].filter((p) => !reached.has(p)));
        for (const p of next) reached.add(p);
        frontier = next;
      }
    }
    if (reached.size === 0) reached = new Set();
    positions = reached;
  }
  return positions;
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** The structure's issues (empty when the message follows it); unknown structures get no segment-order check. */
export function checkStructure(message: Hl7Message): OperationOutcomeIssue[] {
  const issues: OperationOutcomeIssue[] = [];
  const msh9 = message.header.getField(9);
  const structure = msh9?.getComponent(3) || BY_EVENT[`${msh9?.getComponent(1)}^${msh9?.getComponent(2)}`];
  const segments = message.segments.filter((x) => !x.name.startsWith('Z'));
  const names = segments.map((x) => x.name);
  const items = structure ? STRUCTURES[structure] : undefined;
  if (items) {
    const far: Progress = { at: 0, wanted: new Map() };
    const ends = run(items, names, new Set([0]), far);
    if (!ends.has(names.length)) {
      const at = far.at;
      const wanted = [...(far.wanted.get(at) ?? [])];
      issues.push(at < names.length
        ? hl7Issue(100, `${names[at]}[${names.slice(0, at + 1).filter((n) => n === names[at]).length}]`,
          `Segment ${names[at]} is not expected here in ${structure} (after ${names.slice(Math.max(0, at - 3), at).join(' ')}${wanted.length ? `; expected ${wanted.join(' or ')}` : ''})`)
        : wanted.length
          ? hl7Issue(101, wanted[0], `Required segment ${wanted.join(' or ')} missing in ${structure} (after ${names.slice(-3).join(' ')})`)
          : hl7Issue(100, undefined, `${structure} ends too early after ${names.slice(-3).join(' ')}`));
    }
  }
  const count = new Map<string, number>();
  for (const seg of message.segments) {
    const n = (count.get(seg.name) ?? 0) + 1;
    count.set(seg.name, n);
    const where = (f: number) => (n === 1 && seg.name !== 'OBX' ? `${seg.name}-${f}` : `${seg.name}[${n}]-${f}`);
    for (const f of REQUIRED[seg.name] ?? []) {
      const value = seg.getField(f)?.toString() ?? '';
      if (!value) issues.push(hl7Issue(101, where(f), `${seg.name}-${f} is required`));
    }
    if (seg.name === 'OBX' && seg.getField(2)?.toString() === 'ED') {
      const ed = seg.getField(5);
      const encoding = ed?.getComponent(4) ?? '';
      const data = ed?.getComponent(5) ?? '';
      if (/^base64$/i.test(encoding) && (!data || data.length % 4 !== 0 || !B64.test(data))) {
        issues.push(hl7Issue(102, where(5), `OBX-5 (ED) declares Base64 but its data is not valid base64 (${data.length} characters)`));
      } else if (/^base64$/i.test(encoding) && /^text$/i.test(ed?.getComponent(2) ?? '')) {
        try {
          new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(data, 'base64'));
        } catch {
          issues.push(hl7Issue(102, where(5), 'OBX-5 (ED, type TEXT) decodes to bytes that are not UTF-8 text'));
        }
      }
    }
  }
  const profile = structure ? PROFILES[structure] : undefined;
  const msh21 = message.header.getField(21)?.toString() ?? '';
  if (profile && structure !== 'ORU_R01' && msh21 !== profile) {
    issues.push({ ...hl7Issue(101, 'MSH-21', `MSH-21 should be ${profile} (CI-SIS), got '${msh21}'`), severity: 'warning' });
  }
  return issues;
}
