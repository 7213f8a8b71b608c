// HL7 v2.5.1 §7.4.2 OBX (+ §2.15.10 NTE) as profiled by the CI-SIS Téléradiologie volet (st_flux1, st_flux4, sub-id.md,
// table_obs.md): TLR_OBSERVATION codes and LOINC observations → FHIR R4 ServiceRequest details and Observations.
import type { Hl7Message, Hl7Segment } from '@medplum/core';
import type { Annotation, CodeableConcept, Observation, ObservationComponent, Quantity } from '@medplum/fhirtypes';
import { ceConcept, codingSystem, first, repetitions, tsToFhir, type Hl7Value } from './hl7-datatypes.js';
import { hl7Error } from './hl7-field-errors.js';

export const TLR_OBSERVATION = codingSystem('TLR_OBSERVATION') as string;
/** bodySite extension (valueCodeableConcept): the topographic precision of a region (OBX-4 n.2: laterality). */
export const LATERALITY_EXTENSION = 'https://teleo.fr/fhir/StructureDefinition/body-site-laterality';
/** Annotation extension (valueCoding, HL7 Table 0364): the kind of comment an NTE carried (NTE-4). */
export const NOTE_TYPE_EXTENSION = 'https://teleo.fr/fhir/StructureDefinition/note-comment-type';
/** Observation.component codes of the parts of a grouped TLR observation (OBX-4 n.m). */
export const TLR_PART_SYSTEM = 'https://teleo.fr/fhir/CodeSystem/tlr-observation-part';

export interface OrderObservations {
  /** MODALITE_IMAGERIE and CODE_ACTE_IMAGERIE values (→ ServiceRequest.orderDetail). */
  orderDetail: CodeableConcept[];
  /** REGION_ANATOMIQUE n.1 with its n.2 as LATERALITY_EXTENSION (→ ServiceRequest.bodySite). */
  bodySite: CodeableConcept[];
  /** Clinical observations (LOINC history, height, weight, pregnancy…), products administered, devices used. */
  observations: Observation[];
  /** URL_PARTIELLE_VIEWER, decoded. */
  viewerUrl?: string;
  /** NTE comments (after OBR: the order's; after an OBX: about that observation), with their Table 0364 type. */
  notes: Annotation[];
}

interface Obx { index: number; seg: Hl7Segment; code: string; n: number; m: number }

const STATUS: Record<string, Observation['status']> = { F: 'final', C: 'corrected', P: 'preliminary', X: 'cancelled', D: 'entered-in-error', W: 'entered-in-error' };
const UCUM: Record<string, string> = { cm: 'cm', m: 'm', mm: 'mm', kg: 'kg', g: 'g', mg: 'mg', ml: 'mL', mL: 'mL', l: 'L', L: 'L' };
/** Coding-system names the volet uses that are HL7 tables under another name. */
const SYSTEM_ALIASES: Record<string, string> = { 'expandedYes-NoIndicator': 'HL70532' };
const GROUPED = new Set(['REGION_ANATOMIQUE', 'PRODUIT_ADMINISTRE', 'APPAREIL_IMAGERIE']);

const at = (o: Obx, field: number) => `OBX[${o.index}]-${field}`;

function concept(v: Hl7Value): CodeableConcept {
  const c = ceConcept(v);
  for (const coding of c.coding ?? []) {
    const alias = Object.entries(SYSTEM_ALIASES).find(([name]) => coding.system === codingSystem(name));
    if (alias) coding.system = codingSystem(alias[1]);
  }
  return c;
}

/** Strict base64 (RFC 4648 alphabet, padded) of UTF-8 text; undefined when it is not. */
export function decodeBase64Text(data: string): string | undefined {
  const s = data.replace(/\s+/g, '');
  if (s.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(s, 'base64'));
  } catch {
    return undefined;
  }
}

type Value = { concept?: CodeableConcept; text?: string; quantity?: Quantity };

/** OBX-5 read by its OBX-2 value type; 102 at OBX[i]-5 when it does not hold that type. */
function valueOf(o: Obx): Value {
  const type = first(o.seg.getField(2))?.get(1) ?? '';
  const reps = repetitions(o.seg.getField(5));
  if (reps.length === 0) return {};
  switch (type) {
    case 'CE': case 'CWE': case 'CNE':
      return { concept: concept(reps[0]) };
    case 'NM': {
      const raw = reps[0].get(1).trim();
      if (!/^[+-]?(\d+\.?\d*|\.\d+)$/.test(raw)) throw hl7Error(102, at(o, 5), `OBX-5 '${raw}' is not a number (OBX-2 NM)`);
      const unit = first(o.seg.getField(6));
      const id = unit?.get(1) ?? '';
      const ucum = (unit?.get(3) === 'UCUM' && id) || UCUM[id];
      return { quantity: { value: Number(raw), ...(id ? { unit: unit?.get(2) || id } : {}), ...(ucum ? { system: 'http://unitsofmeasure.org', code: ucum } : {}) } };
    }
    case 'ED': {
      const ed = reps[0];
      const encoding = ed.get(4).toLowerCase();
      if (encoding === 'a' || encoding === '') return { text: ed.get(5) };
      const text = encoding === 'base64' ? decodeBase64Text(ed.get(5)) : undefined;
      if (text === undefined) {
        throw hl7Error(102, at(o, 5), `OBX-5 (ED, encoding '${ed.get(4)}'): '${ed.get(5).slice(0, 60)}' is not base64-encoded UTF-8 text`);
      }
      return { text };
    }
    default:
      return { text: reps.map((r) => r.get(1)).join('\n') };
  }
}

function subId(o: Hl7Segment, index: number, code: string, count: number): { n: number; m: number } {
  const raw = first(o.getField(4))?.get(1) ?? '';
  if (!raw) {
    if (GROUPED.has(code) && count > 1) throw hl7Error(101, `OBX[${index}]-4`, `OBX-4 (sub-id n.m) is required: several OBX carry ${code}`);
    return { n: 1, m: 1 };
  }
  const m = /^(\d+)(?:\.(\d+))?$/.exec(raw);
  if (!m) throw hl7Error(102, `OBX[${index}]-4`, `OBX-4 '${raw}' is not a sub-id n.m`);
  return { n: Number(m[1]), m: Number(m[2] ?? '1') };
}

const part = (code: string, display: string, v: Value): ObservationComponent => ({
  code: { coding: [{ system: TLR_PART_SYSTEM, code, display }] },
  ...(v.concept ? { valueCodeableConcept: v.concept } : v.quantity ? { valueQuantity: v.quantity } : { valueString: v.text ?? '' }),
});

function observation(o: Obx, code: CodeableConcept, value: Value, components: ObservationComponent[] = []): Observation {
  const effective = first(o.seg.getField(14))?.get(1) ?? '';
  let when: string | undefined;
  try { when = tsToFhir(effective); } catch (e) { throw hl7Error(102, at(o, 14), `OBX-14: ${(e as Error).message}`); }
  const flag = first(o.seg.getField(8));
  return {
    resourceType: 'Observation',
    status: STATUS[first(o.seg.getField(11))?.get(1) ?? ''] ?? 'final',
    code,
    ...(when ? { effectiveDateTime: when } : {}),
    ...(value.concept ? { valueCodeableConcept: value.concept } : value.quantity ? { valueQuantity: value.quantity } : value.text !== undefined ? { valueString: value.text } : {}),
    ...(flag ? { interpretation: [{ coding: [{ system: codingSystem('TLR_PERTINENCE'), code: flag.get(1) }], text: flag.get(1) }] } : {}),
    ...(components.length ? { component: components } : {}),
  };
}

/** NTE-3 comments with their NTE-4 type (HL7 Table 0364: FINALITE_EXAMEN, MODALITE_IMAGERIE…). */
function note(nte: Hl7Segment): Annotation | undefined {
  const text = repetitions(nte.getField(3)).map((r) => r.get(1)).join('\n').trim();
  if (!text) return undefined;
  const type = first(nte.getField(4));
  return {
    text,
    ...(type?.get(1) ? { extension: [{ url: NOTE_TYPE_EXTENSION, valueCoding: { system: 'http://terminology.hl7.org/CodeSystem/v2-0364', code: type.get(1) } }] } : {}),
  };
}

/** Reads every OBX and NTE of the message (segment order), with located 101/102 errors. */
export function readObservations(message: Hl7Message): OrderObservations {
  const result: OrderObservations = { orderDetail: [], bodySite: [], observations: [], notes: [] };
  const segments = message.segments.filter((s) => s.name === 'OBX' || s.name === 'NTE');
  const obxs = segments.filter((s) => s.name === 'OBX');
  const codeOf = (s: Hl7Segment) => first(s.getField(3))?.get(1) ?? '';
  const groups = new Map<string, Map<number, Map<number, { o: Obx; v: Value }>>>();
  for (const seg of segments) {
    if (seg.name === 'NTE') {
      const n = note(seg);
      if (n) result.notes.push(n);
      continue;
    }
    const index = obxs.indexOf(seg) + 1;
    const code = codeOf(seg);
    if (!code) throw hl7Error(101, `OBX[${index}]-3`, 'OBX-3 (observation identifier) is empty');
    const o: Obx = { index, seg, code, ...subId(seg, index, code, obxs.filter((x) => codeOf(x) === code).length) };
    const v = valueOf(o);
    if (GROUPED.has(code)) {
      const byN = groups.get(code) ?? new Map<number, Map<number, { o: Obx; v: Value }>>();
      groups.set(code, byN);
      byN.set(o.n, (byN.get(o.n) ?? new Map()).set(o.m, { o, v }));
    } else if (code === 'MODALITE_IMAGERIE' || code === 'CODE_ACTE_IMAGERIE') {
      if (v.concept) result.orderDetail.push(v.concept);
    } else if (code === 'URL_PARTIELLE_VIEWER') {
      const url = v.text?.trim();
      if (!url || [...url].some((ch) => ch.charCodeAt(0) <= 0x20 || ch.charCodeAt(0) === 0x7f)) throw hl7Error(102, at(o, 5), 'OBX-5 (URL_PARTIELLE_VIEWER) is not a URL');
      result.viewerUrl = url;
    } else {
      result.observations.push(observation(o, concept(first(seg.getField(3)) as Hl7Value), v));
    }
  }
  const tlr = (code: string, o: Obx): CodeableConcept => ({ coding: [{ system: TLR_OBSERVATION, code, ...(first(o.seg.getField(3))?.get(2) ? { display: first(o.seg.getField(3))?.get(2) } : {}) }] });
  for (const [n, parts] of groups.get('REGION_ANATOMIQUE') ?? []) {
    const site = parts.get(1);
    const lat = parts.get(2);
    if (!site?.v.concept) throw hl7Error(101, at((lat ?? [...parts.values()][0]).o, 4), `REGION_ANATOMIQUE ${n}.1 (the region itself) is missing`);
    result.bodySite.push({ ...site.v.concept, ...(lat?.v.concept ? { extension: [{ url: LATERALITY_EXTENSION, valueCodeableConcept: lat.v.concept }] } : {}) });
  }
  for (const parts of (groups.get('PRODUIT_ADMINISTRE') ?? new Map()).values()) {
    const [product, lot, quantity] = [1, 2, 3].map((m) => parts.get(m));
    const any = product ?? lot ?? quantity;
    result.observations.push(observation(any.o, tlr('PRODUIT_ADMINISTRE', any.o), product?.v ?? {}, [
      ...(lot ? [part('numero-lot', 'Numéro de lot', lot.v.quantity ? { text: first(lot.o.seg.getField(5))?.get(1) } : lot.v)] : []),
      ...(quantity ? [part('quantite', 'Quantité administrée', quantity.v)] : []),
    ]));
  }
  for (const parts of (groups.get('APPAREIL_IMAGERIE') ?? new Map()).values()) {
    const [udi, model] = [1, 2].map((m) => parts.get(m));
    const any = udi ?? model;
    result.observations.push(observation(any.o, tlr('APPAREIL_IMAGERIE', any.o), {}, [
      ...(udi ? [part('identifiant-appareil', 'Identifiant unique (IUD) de l\'appareil', udi.v)] : []),
      ...(model ? [part('modele-appareil', 'Modèle de l\'appareil', model.v)] : []),
    ]));
  }
  return result;
}
