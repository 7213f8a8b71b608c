// The hospital PACS the platform queries and retrieves from (setting PACS, a JSON array), validated with one message
// per problem; and the known AEs our DIMSE gateway derives from them (a PACS answering a C-MOVE stores to us).
import type { KnownAe } from '../dicom/association-policy.js';
import { QUERY_METHODS, RETRIEVE_METHODS, type PacsDefinition, type QueryMethod, type RetrieveMethod } from '../workflow/imaging/pacs-port.js';

export const PACS_SHAPE = '[{ "name", "aeTitle", "host", "port", "dicomwebUrl"?, "query"?: "c-find" | "qido-rs", "retrieve": "c-move" | "c-get" | "wado-rs" }]';

const AE_TITLE = /^[^\\]{1,16}$/;

/** Reads the PACS list (already JSON-parsed, or undefined); pushes a precise message per problem. */
export function parsePacsList(raw: unknown, problems: string[]): PacsDefinition[] {
  if (raw === undefined || raw === '') return [];
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch {
      problems.push(`PACS is not valid JSON; expected ${PACS_SHAPE}`);
      return [];
    }
  }
  if (!Array.isArray(raw)) {
    problems.push(`PACS must be a JSON array ${PACS_SHAPE}`);
    return [];
  }
  const out: PacsDefinition[] = [];
  raw.forEach((entry: unknown, i) => {
    const where = `PACS[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${where} must be an object ${PACS_SHAPE.slice(1, -1)}`);
      return;
    }
    const e = entry as Record<string, unknown>;
    const errs: string[] = [];
    const name = typeof e.name === 'string' ? e.name.trim() : '';
    if (!/^[A-Za-z0-9][A-Za-z0-9 _.-]{0,63}$/.test(name)) errs.push(`${where}.name must be 1 to 64 letters, digits, spaces, "_", "." or "-"`);
    const label = name ? `${where} (${name})` : where;
    const aeTitle = typeof e.aeTitle === 'string' ? e.aeTitle.trim() : '';
    if (!AE_TITLE.test(aeTitle)) errs.push(`${label}.aeTitle must be 1 to 16 characters without backslash`);
    const host = typeof e.host === 'string' ? e.host.trim() : '';
    if (!host) errs.push(`${label}.host must be the PACS's IP address or host name`);
    const port = e.port;
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) errs.push(`${label}.port must be its DIMSE port, an integer between 1 and 65535`);
    const retrieve = e.retrieve ?? 'c-move';
    if (!RETRIEVE_METHODS.includes(retrieve as RetrieveMethod)) errs.push(`${label}.retrieve must be one of ${RETRIEVE_METHODS.join(', ')} (got ${JSON.stringify(retrieve)})`);
    const query = e.query ?? 'c-find';
    if (!QUERY_METHODS.includes(query as QueryMethod)) errs.push(`${label}.query must be one of ${QUERY_METHODS.join(', ')} (got ${JSON.stringify(query)})`);
    let dicomwebUrl: string | undefined;
    if (e.dicomwebUrl !== undefined) {
      try {
        const u = new URL(String(e.dicomwebUrl));
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('scheme');
        dicomwebUrl = u.toString().replace(/\/+$/, '');
      } catch {
        errs.push(`${label}.dicomwebUrl must be an http(s) URL (the DICOMweb service root)`);
      }
    }
    if (!dicomwebUrl && e.dicomwebUrl === undefined && (retrieve === 'wado-rs' || query === 'qido-rs')) {
      errs.push(`${label} uses ${retrieve === 'wado-rs' ? 'retrieve "wado-rs"' : 'query "qido-rs"'}: give its dicomwebUrl`);
    }
    if (name && out.some((p) => p.name === name)) errs.push(`${label}: another PACS has the same name`);
    if (errs.length > 0) {
      problems.push(...errs);
      return;
    }
    out.push({ name, aeTitle, host, port: port as number, ...(dicomwebUrl ? { dicomwebUrl } : {}), query: query as QueryMethod, retrieve: retrieve as RetrieveMethod });
  });
  return out;
}

/**
 * The known AEs of the gateway with every configured PACS allowed to 'store' (the C-STORE sub-operations of a C-MOVE
 * to us come from the PACS's AE): an AE already listed gains 'store', an unlisted one is added, from its host.
 */
export function withPacsPeers(knownAes: readonly KnownAe[], pacs: readonly PacsDefinition[]): KnownAe[] {
  const out = knownAes.map((ae) => ({ ...ae, operations: [...ae.operations] }));
  for (const p of pacs) {
    const listed = out.filter((ae) => ae.aeTitle.trim() === p.aeTitle);
    if (listed.length === 0) out.push({ aeTitle: p.aeTitle, host: p.host, port: p.port, operations: ['store'] });
    for (const ae of listed) if (!ae.operations.includes('store')) ae.operations.push('store');
  }
  return out;
}
