// PS3.4 C.2.2.2 attribute matching (single value, universal, wildcard, range, list of UIDs), one key at a time, as
// storage-independent filters: the SQL index translates them, the memory twin evaluates them with `matchesFilter`.
import type { DicomJson, DicomJsonAttribute } from './dicom-json.js';

/**
 * How one matching key constrains an attribute's (first) value. Universal matching (C.2.2.2.3: empty value, or a
 * wildcard of only `*`) yields no filter at all.
 */
export type MatchRule =
  /** C.2.2.2.1 single value: equal. */
  | { readonly kind: 'single'; readonly value: string }
  /** C.2.2.2.4 wildcard: `*` any sequence (possibly empty), `?` one character. */
  | { readonly kind: 'wildcard'; readonly pattern: string }
  /** C.2.2.2.5 range (DA, TM, DT): inclusive bounds, either may be absent. */
  | { readonly kind: 'range'; readonly from?: string; readonly to?: string }
  /** C.2.2.2.2 list of UIDs (generalised to any multi-valued key): equal to one of them. */
  | { readonly kind: 'list'; readonly values: readonly string[] };

export interface AttributeFilter {
  /** The attribute, 8 upper-case hex digits. */
  readonly tag: string;
  /** PN: the Alphabetic component group is compared after `foldPersonName` (on both sides). */
  readonly personName: boolean;
  readonly rule: MatchRule;
}

/**
 * Person names match case- and accent-insensitively (an extension of C.2.2.2.1/C.2.2.2.4, which PS3.4 leaves to the
 * SCP for PN: "LEFEVRE^HELENE" and "lefèvre*" both find "LEFÈVRE^Hélène"), as the French users expect. Folding maps
 * the Latin-1 Supplement / Latin Extended-A letters of French and its neighbours to their base letter, then lowers
 * ASCII letters only; other characters are left as they are. The same table gives the SQL `translate()` arguments,
 * so that PostgreSQL and the memory twin fold identically.
 */
export const PN_FOLD_FROM = 'ÀÁÂÃÄÅàáâãäåÇçÈÉÊËèéêëÌÍÎÏìíîïÑñÒÓÔÕÖØòóôõöøÙÚÛÜùúûüÝýÿŸŒœÆæ';
export const PN_FOLD_TO = 'AAAAAAaaaaaaCcEEEEeeeeIIIIiiiiNnOOOOOOooooooUUUUuuuuYyyYOoAa';

const FOLD = new Map([...PN_FOLD_FROM].map((c, i) => [c, PN_FOLD_TO[i]]));

export function foldPersonName(name: string): string {
  let out = '';
  for (const c of name) {
    const base = FOLD.get(c) ?? c;
    out += base >= 'A' && base <= 'Z' ? base.toLowerCase() : base;
  }
  return out;
}

const RANGE_VRS = new Set(['DA', 'TM', 'DT']);
/** VRs for which `*` and `?` are not wildcards (C.2.2.2.4: not for dates, times, UIDs or numbers). */
const NO_WILDCARD_VRS = new Set(['DA', 'TM', 'DT', 'UI', 'IS', 'DS', 'SS', 'US', 'SL', 'UL', 'FL', 'FD', 'SV', 'UV', 'AT']);

/** The string values of a DICOM JSON attribute (PN: the Alphabetic group), empty values dropped. */
export function stringValues(attr: DicomJsonAttribute | undefined): string[] {
  const out: string[] = [];
  for (const v of attr?.Value ?? []) {
    const s = typeof v === 'string' ? v
      : typeof v === 'number' ? String(v)
        : v && typeof v === 'object' && typeof (v as { Alphabetic?: unknown }).Alphabetic === 'string' ? (v as { Alphabetic: string }).Alphabetic
          : undefined;
    if (s !== undefined && s.trim() !== '') out.push(s.trim());
  }
  return out;
}

/** TM bounds are compared as strings: an upper bound `HHMM` must include `HHMM59.999999`. */
function upperTime(vr: string, to: string): string {
  if (vr !== 'TM') return to;
  return `${to}${'235959.999999'.slice(to.length)}`.slice(0, Math.max(to.length, 13));
}

/**
 * The filter a matching key imposes, or undefined for universal matching. `vr` is the key's VR as sent (PS3.4
 * C.2.2.2: the kind of matching depends on the VR and on the characters of the value).
 */
export function filterOf(tag: string, attr: DicomJsonAttribute): AttributeFilter | undefined {
  const values = stringValues(attr);
  const personName = attr.vr === 'PN';
  const make = (rule: MatchRule): AttributeFilter => ({ tag, personName, rule });
  if (values.length === 0) return undefined;
  if (values.length > 1) return make({ kind: 'list', values: personName ? values.map(foldPersonName) : values });
  const value = values[0];
  if (RANGE_VRS.has(attr.vr) && value.includes('-')) {
    const [from, to] = value.split('-', 2).map((s) => s.trim());
    return make({ kind: 'range', ...(from ? { from } : {}), ...(to ? { to: upperTime(attr.vr, to) } : {}) });
  }
  if (!NO_WILDCARD_VRS.has(attr.vr) && /[*?]/.test(value)) {
    if (/^\*+$/.test(value)) return undefined;
    return make({ kind: 'wildcard', pattern: personName ? foldPersonName(value) : value });
  }
  return make({ kind: 'single', value: personName ? foldPersonName(value) : value });
}

function wildcardRegExp(pattern: string): RegExp {
  const body = [...pattern].map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`, 's');
}

/** The value a filter compares: the attribute's first value (folded for PN), undefined if it has none. */
export function comparedValue(filter: AttributeFilter, metadata: DicomJson): string | undefined {
  const [first] = stringValues(metadata[filter.tag]);
  return first === undefined ? undefined : filter.personName ? foldPersonName(first) : first;
}

/** Evaluates a filter the way the SQL index does: an attribute without value matches nothing but universal matching. */
export function matchesFilter(filter: AttributeFilter, metadata: DicomJson): boolean {
  const value = comparedValue(filter, metadata);
  if (value === undefined) return false;
  const { rule } = filter;
  switch (rule.kind) {
    case 'single':
      return value === rule.value;
    case 'list':
      return rule.values.includes(value);
    case 'wildcard':
      return wildcardRegExp(rule.pattern).test(value);
    case 'range':
      return (rule.from === undefined || value >= rule.from) && (rule.to === undefined || value <= rule.to);
  }
}

/** The SQL LIKE pattern (escape character `\`) of a wildcard. */
export function likePattern(pattern: string): string {
  return [...pattern].map((c) => (c === '*' ? '%' : c === '?' ? '_' : /[%_\\]/.test(c) ? `\\${c}` : c)).join('');
}
