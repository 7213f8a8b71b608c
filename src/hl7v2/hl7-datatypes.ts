// HL7 v2.5.1 Chapter 2A data types (CX, XPN, XCN, XON, EI, CE/CWE, TS) and §2.7 escape sequences, read into FHIR R4 values.
import type { Hl7Context, Hl7Field } from '@medplum/core';
import type { CodeableConcept, Coding, HumanName, Identifier } from '@medplum/fhirtypes';

/** §2.7.4: \F\ \S\ \T\ \R\ \E\, \.br\ (line break) and \Xhh…\ (hexadecimal bytes, read as UTF-8). */
export function unescapeHl7(text: string, context: Hl7Context): string {
  const esc = context.escapeCharacter;
  if (!esc || !text.includes(esc)) return text;
  const e = esc.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return text.replace(new RegExp(`${e}([^${e}]*)${e}`, 'g'), (whole, seq: string) => {
    switch (seq) {
      case 'F': return context.fieldSeparator;
      case 'S': return context.componentSeparator;
      case 'T': return context.subcomponentSeparator;
      case 'R': return context.repetitionSeparator;
      case 'E': return esc;
      case '.br': return '\n';
      default:
        if (/^X([0-9A-Fa-f]{2})+$/.test(seq)) return Buffer.from(seq.slice(1), 'hex').toString('utf8');
        return whole;
    }
  });
}

/** §2.7: text escaped so it can travel in a field (free text of our own messages). */
export function escapeHl7(text: string, context: Hl7Context): string {
  const esc = context.escapeCharacter;
  return [...text].map((ch) => {
    if (ch === esc) return `${esc}E${esc}`;
    if (ch === context.fieldSeparator) return `${esc}F${esc}`;
    if (ch === context.componentSeparator) return `${esc}S${esc}`;
    if (ch === context.subcomponentSeparator) return `${esc}T${esc}`;
    if (ch === context.repetitionSeparator) return `${esc}R${esc}`;
    if (ch === '\r') return '';
    if (ch === '\n') return `${esc}.br${esc}`;
    return ch;
  }).join('');
}

/** One repetition of a field as its components, each split in subcomponents, unescaped (1-based accessors). */
export interface Hl7Value {
  /** Component `c` (1-based), subcomponent `s` (1-based, default 1). */
  get(c: number, s?: number): string;
  /** The whole repetition as sent. */
  readonly raw: string;
}

export function repetitions(field: Hl7Field | undefined): Hl7Value[] {
  if (!field) return [];
  const ctx = field.context;
  return field.components
    .filter((comps) => comps.some((c) => c !== ''))
    .map((comps) => ({
      raw: comps.join(ctx.componentSeparator),
      get: (c: number, s = 1) => unescapeHl7((comps[c - 1] ?? '').split(ctx.subcomponentSeparator)[s - 1] ?? '', ctx),
    }));
}

export function first(field: Hl7Field | undefined): Hl7Value | undefined {
  return repetitions(field)[0];
}

/** An ISO OID as a FHIR system (`urn:oid:…`), or undefined. */
export function oidSystem(oid: string): string | undefined {
  return /^[0-2](\.(0|[1-9][0-9]*))+$/.test(oid) ? `urn:oid:${oid}` : undefined;
}

/** HD (namespace, universal id, type) → system: the OID when ISO, else `urn:teleo:hd:<namespace>`. */
export function hdSystem(namespace: string, universalId: string, type: string): string | undefined {
  if (universalId && (type === 'ISO' || type === '' || type === 'M')) {
    const oid = oidSystem(universalId);
    if (oid) return oid;
  }
  return namespace ? `urn:teleo:hd:${encodeURIComponent(namespace)}` : undefined;
}

/** CX (extended composite id): value, assigning authority (CX-4 HD), identifier type (CX-5: INS, PI, NH, AN, VN…). */
export interface Cx { value: string; system?: string; namespace: string; oid: string; typeCode: string }

export function cx(v: Hl7Value): Cx {
  return { value: v.get(1), namespace: v.get(4, 1), oid: v.get(4, 2), typeCode: v.get(5), system: hdSystem(v.get(4, 1), v.get(4, 2), v.get(4, 3)) };
}

export function cxIdentifier(id: Cx): Identifier {
  return {
    ...(id.system ? { system: id.system } : {}),
    value: id.value,
    ...(id.typeCode ? { type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: id.typeCode }] } } : {}),
  };
}

/** EI (entity identifier: placer/filler order number, accession): EI-1 value, EI-2 namespace, EI-3 OID, EI-4 type. */
export function eiIdentifier(v: Hl7Value): Identifier | undefined {
  const value = v.get(1);
  if (!value) return undefined;
  const system = hdSystem(v.get(2), v.get(3), v.get(4));
  return { ...(system ? { system } : {}), value };
}

/** XPN (person name): family, given, second and further given names, suffix, prefix, type (L legal, D display…). */
export function xpnName(v: Hl7Value): HumanName {
  const given = [v.get(2), ...v.get(3).split(/\s+/)].filter((g, i, all) => g && all.indexOf(g) === i);
  const use: HumanName['use'] | undefined = ({ L: 'official', D: 'usual', M: 'maiden', A: 'nickname', S: 'anonymous' } as const)[v.get(7)];
  return {
    ...(use ? { use } : {}),
    ...(v.get(1) ? { family: v.get(1) } : {}),
    ...(given.length ? { given } : {}),
    ...(v.get(5) ? { prefix: [v.get(5)] } : {}),
    ...(v.get(4) ? { suffix: [v.get(4)] } : {}),
  };
}

/** XCN (person with id: ordering provider, author): id, name, assigning authority (XCN-9), id type (XCN-13). */
export interface Xcn { id: string; system?: string; typeCode: string; name: HumanName }

export function xcn(v: Hl7Value): Xcn {
  const given = [v.get(3), v.get(4)].filter(Boolean);
  return {
    id: v.get(1),
    system: hdSystem(v.get(9, 1), v.get(9, 2), v.get(9, 3)),
    typeCode: v.get(13),
    name: { ...(v.get(2) ? { family: v.get(2) } : {}), ...(given.length ? { given } : {}), ...(v.get(6) ? { prefix: [v.get(6)] } : {}) },
  };
}

/** XON (organisation: ORC-21): name, assigning authority (XON-6), id type (XON-7), identifier (XON-10, else XON-3). */
export interface Xon { name: string; id: string; system?: string; typeCode: string }

export function xon(v: Hl7Value): Xon {
  return { name: v.get(1), id: v.get(10) || v.get(3), system: hdSystem(v.get(6, 1), v.get(6, 2), v.get(6, 3)), typeCode: v.get(7) };
}

/** Well-known coding systems of CE/CWE-3 (HL7 Table 0396) as FHIR system URIs. */
const CODING_SYSTEMS: Record<string, string> = {
  LN: 'http://loinc.org', SCT: 'http://snomed.info/sct', DCM: 'http://dicom.nema.org/resources/ontology/DCM',
  ATC: 'http://www.whocc.no/atc', 'I10': 'http://hl7.org/fhir/sid/icd-10', UCUM: 'http://unitsofmeasure.org',
};

export function codingSystem(name: string): string | undefined {
  if (!name) return undefined;
  return CODING_SYSTEMS[name] ?? oidSystem(name) ?? (/^HL7\d{4}$/.test(name) ? `http://terminology.hl7.org/CodeSystem/v2-${name.slice(3)}` : `urn:teleo:hl7-coding-system:${encodeURIComponent(name)}`);
}

/** CE/CWE: identifier, text, coding system (and the alternate triplet) → CodeableConcept. */
export function ceConcept(v: Hl7Value): CodeableConcept {
  const codings: Coding[] = [];
  for (const at of [1, 4]) {
    const code = v.get(at);
    if (!code) continue;
    const system = codingSystem(v.get(at + 2));
    codings.push({ ...(system ? { system } : {}), code, ...(v.get(at + 1) ? { display: v.get(at + 1) } : {}) });
  }
  const text = v.get(2) || v.get(5);
  return { ...(codings.length ? { coding: codings } : {}), ...(text ? { text } : {}) };
}

/**
 * TS / DTM (YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]) → FHIR date or dateTime; undefined when empty; throws RangeError
 * naming the problem when malformed (the caller turns it into a located 102).
 */
export function tsToFhir(text: string, timeZone = 'Europe/Paris'): string | undefined {
  if (!text) return undefined;
  const m = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,4})?([+-]\d{4})?$/.exec(text);
  if (!m) throw new RangeError(`'${text}' is not an HL7 date/time (YYYY[MM[DD[HHMM[SS[.S]]]]][+/-ZZZZ])`);
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  if (mo && (Number(mo) < 1 || Number(mo) > 12)) throw new RangeError(`'${text}': month ${mo} does not exist`);
  if (d && (Number(d) < 1 || Number(d) > new Date(Date.UTC(Number(y), Number(mo), 0)).getUTCDate())) throw new RangeError(`'${text}': day ${d} does not exist in ${y}-${mo}`);
  if (h && (Number(h) > 23 || Number(mi ?? '0') > 59 || Number(s ?? '0') > 59)) throw new RangeError(`'${text}': time out of range`);
  if (!h) return [y, mo, d].filter(Boolean).join('-');
  const offset = tz ? `${tz.slice(0, 3)}:${tz.slice(3)}` : zoneOffset(timeZone, Number(y), Number(mo), Number(d), Number(h), Number(mi ?? '0'));
  return `${y}-${mo}-${d}T${h}:${mi ?? '00'}:${s ?? '00'}${frac ?? ''}${offset}`;
}

/** The UTC offset (`+01:00` / `+02:00` for Europe/Paris) of a local wall-clock time in `timeZone`. */
function zoneOffset(timeZone: string, y: number, mo: number, d: number, h: number, mi: number): string {
  const guess = new Date(Date.UTC(y, mo - 1, d, h, mi));
  const name = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' }).formatToParts(guess)
    .find((p) => p.type === 'timeZoneName')?.value ?? 'GMT';
  const m = /GMT([+-]\d{2}):?(\d{2})?/.exec(name);
  return m ? `${m[1]}:${m[2] ?? '00'}` : '+00:00';
}
