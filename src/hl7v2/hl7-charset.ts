// HL7 v2.5.1 §2.14.9.18 MSH-18 character set (Table 0211): the bytes of a message decoded by what it declares.
import iconv from 'iconv-lite';
import { hl7Error } from './hl7-field-errors.js';
import type { Hl7Charset } from './hl7-partner.js';

/** Table 0211 values we read, and the encoding of each. */
const ENCODINGS: Record<string, string> = {
  'UNICODE UTF-8': 'utf8', 'UTF-8': 'utf8', '8859/15': 'iso-8859-15', '8859/1': 'latin1', ASCII: 'ascii', '': '',
};

/** MSH-n read from the raw bytes (ASCII-compatible in every supported charset); undefined when there is no MSH. */
export function peekMsh(raw: Buffer, field: number): string | undefined {
  const head = raw.subarray(0, Math.min(raw.length, 4096)).toString('latin1');
  if (!head.startsWith('MSH') || head.length < 8) return undefined;
  const sep = head[3];
  const end = head.search(/[\r\n]/);
  const fields = (end === -1 ? head : head.slice(0, end)).split(sep);
  // fields[0] = 'MSH', and MSH-1 is the separator itself: MSH-n is fields[n - 1] for n ≥ 2.
  return field === 1 ? sep : fields[field - 1] ?? '';
}

/**
 * Decodes a message by its MSH-18 (first repetition), else the partner's charset. Throws 102 at MSH-18 for an
 * unknown character set, or for bytes that are not valid in the declared one (UTF-8 checked strictly).
 */
export function decodeMessage(raw: Buffer, fallback: Hl7Charset): { text: string; charset: string } {
  const declared = (peekMsh(raw, 18) ?? '').split(peekMsh(raw, 2)?.[1] ?? '~')[0].trim();
  const encoding = ENCODINGS[declared];
  if (encoding === undefined) {
    throw hl7Error(102, 'MSH-18', `MSH-18 character set '${declared}' is not supported (use UNICODE UTF-8, 8859/15, 8859/1 or ASCII)`);
  }
  const charset = declared || fallback;
  const enc = encoding || ENCODINGS[fallback];
  if (enc === 'utf8') {
    try {
      return { text: new TextDecoder('utf-8', { fatal: true }).decode(raw), charset };
    } catch {
      const at = firstInvalidUtf8(raw);
      throw hl7Error(102, 'MSH-18', `the message declares ${declared ? `'${declared}'` : `no MSH-18 (partner default ${fallback})`} but byte ${at} (0x${raw[at].toString(16)}) is not valid UTF-8: is it ISO 8859-15 (MSH-18 '8859/15')?`);
    }
  }
  if (enc === 'ascii' && raw.some((b) => b > 0x7f)) {
    const at = raw.findIndex((b) => b > 0x7f);
    throw hl7Error(102, 'MSH-18', `the message declares ASCII but byte ${at} is 0x${raw[at].toString(16)}`);
  }
  return { text: iconv.decode(raw, enc), charset };
}

export function encodeMessage(text: string, charset: string): Buffer {
  const enc = ENCODINGS[charset] || 'utf8';
  return enc === 'utf8' ? Buffer.from(text, 'utf8') : iconv.encode(text, enc);
}

function firstInvalidUtf8(raw: Buffer): number {
  for (let i = 0; i < raw.length;) {
    const b = raw[i];
    const n = b < 0x80 ? 1 : b >= 0xc2 && b < 0xe0 ? 2 : b >= 0xe0 && b < 0xf0 ? 3 : b >= 0xf0 && b < 0xf5 ? 4 : 0;
    if (n === 0) return i;
    for (let k = 1; k < n; k++) if (i + k >= raw.length || (raw[i + k] & 0xc0) !== 0x80) return i;
    i += n;
  }
  return 0;
}
