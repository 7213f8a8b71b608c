// The HL7 v2 partners (setting HL7V2_PARTNERS, a JSON array), validated with one message per problem.
import { HL7_CHARSETS, type Hl7Charset, type Hl7Partner } from '../hl7v2/hl7-partner.js';

export const HL7_PARTNERS_SHAPE = '[{ "name", "application", "facility", "host"?, "port"?, "tls"?, "charset"?: "UNICODE UTF-8" | "8859/15", '
  + '"ackMode"?: "original" | "enhanced", "reportMessage"?: "MDM" | "ORU", "orderOwner"?: "CareTeam/<id>", "organizations"?: ["Organization/<id>"] }]';

const REF = /^(PractitionerRole|CareTeam|Organization|Practitioner)\/[A-Za-z0-9\-.]{1,64}$/;

export function parseHl7Partners(raw: unknown, problems: string[]): Hl7Partner[] {
  if (raw === undefined || raw === '') return [];
  if (typeof raw === 'string') {
    try {
      raw = JSON.parse(raw);
    } catch {
      problems.push(`HL7V2_PARTNERS is not valid JSON; expected ${HL7_PARTNERS_SHAPE}`);
      return [];
    }
  }
  if (!Array.isArray(raw)) {
    problems.push(`HL7V2_PARTNERS must be a JSON array ${HL7_PARTNERS_SHAPE}`);
    return [];
  }
  const out: Hl7Partner[] = [];
  raw.forEach((entry: unknown, i) => {
    const where = `HL7V2_PARTNERS[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${where} must be an object`);
      return;
    }
    const e = entry as Record<string, unknown>;
    const errs: string[] = [];
    const s = (k: string) => (typeof e[k] === 'string' ? (e[k] as string).trim() : '');
    const name = s('name');
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(name)) errs.push(`${where}.name must be 1 to 64 letters, digits, "_", "." or "-"`);
    const label = name ? `${where} (${name})` : where;
    const application = s('application');
    const facility = s('facility');
    if (!application) errs.push(`${label}.application must be the partner's MSH-3 (sending application namespace id)`);
    if (!facility) errs.push(`${label}.facility must be the partner's MSH-4 (sending facility namespace id)`);
    const host = s('host') || undefined;
    const port = e.port;
    if (port !== undefined && (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535)) errs.push(`${label}.port must be an integer between 1 and 65535`);
    if (!host !== (port === undefined)) errs.push(`${label}: host and port go together (where we send to), or neither (inbound only)`);
    const charset = (e.charset ?? 'UNICODE UTF-8') as Hl7Charset;
    if (!HL7_CHARSETS.includes(charset)) errs.push(`${label}.charset must be one of ${HL7_CHARSETS.join(', ')}`);
    const ackMode = e.ackMode ?? 'original';
    if (ackMode !== 'original' && ackMode !== 'enhanced') errs.push(`${label}.ackMode must be "original" or "enhanced"`);
    const reportMessage = e.reportMessage ?? 'MDM';
    if (reportMessage !== 'MDM' && reportMessage !== 'ORU') errs.push(`${label}.reportMessage must be "MDM" or "ORU"`);
    const orderOwner = e.orderOwner === undefined ? undefined : s('orderOwner');
    if (orderOwner !== undefined && !REF.test(orderOwner)) errs.push(`${label}.orderOwner must reference a PractitionerRole, CareTeam, Organization or Practitioner (Type/id)`);
    const organizations = e.organizations ?? [];
    if (!Array.isArray(organizations) || !organizations.every((o) => typeof o === 'string' && /^Organization\/[A-Za-z0-9\-.]{1,64}$/.test(o))) {
      errs.push(`${label}.organizations must be a list of Organization/<id>`);
    }
    if (e.tls !== undefined && typeof e.tls !== 'boolean') errs.push(`${label}.tls must be true or false`);
    if (name && out.some((p) => p.name === name)) errs.push(`${label}: another partner has the same name`);
    if (application && out.some((p) => p.application === application && p.facility === facility)) errs.push(`${label}: another partner has the same application and facility`);
    if (errs.length) {
      problems.push(...errs);
      return;
    }
    out.push(Object.freeze({
      name, application, facility, ...(host ? { host, port: port as number } : {}), ...(e.tls ? { tls: true } : {}),
      charset, ackMode: ackMode as Hl7Partner['ackMode'], reportMessage: reportMessage as Hl7Partner['reportMessage'],
      ...(orderOwner ? { orderOwner } : {}), organizations: Object.freeze([...(organizations as string[])]),
    }));
  });
  return out;
}
