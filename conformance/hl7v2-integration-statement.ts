// Writes conformance/hl7v2-integration-statement.md: the HL7 v2 messages the platform takes and sends, generated from
// what is registered (src/hl7v2/hl7-routes.ts, the outbound builders), like the CapabilityStatement for FHIR.
import { writeFile } from 'node:fs/promises';
import { hl7Routes } from '../src/hl7v2/hl7-routes.js';
import { HL7_CHARSETS } from '../src/hl7v2/hl7-partner.js';
import { HL7_OUTBOUND_MESSAGES } from '../src/hl7v2/hl7-outbound-messages.js';

export const INTEGRATION_STATEMENT_FILE = new URL('./hl7v2-integration-statement.md', import.meta.url);

export function integrationStatement(): string {
  const cell = (s: string) => s.replace(/\|/g, '\\|');
  return [
    '# HL7 v2 integration statement (generated: `npm run conformance`)',
    '',
    'HL7 v2.5.1 over MLLP (Appendix C), optional TLS. Original (AA/AE/AR) and enhanced (CA/CE/CR, then application',
    `ACK per MSH-16) acknowledgment modes. Character sets (MSH-18): ${HL7_CHARSETS.join(', ')}. Every inbound message is`,
    'stored raw before it is acknowledged; duplicates (MSH-10 per sender) are not applied twice. Guide: ig/hl7v2.md.',
    '',
    '## Messages received',
    '',
    '| MSH-9 | ORC-1 | what the platform does |',
    '|---|---|---|',
    ...hl7Routes().map((r) => `| \`${r.messageType}\` | ${r.orderControl?.map((c) => `\`${c}\``).join(', ') ?? ''} | ${cell(r.description)} |`),
    '',
    '## Messages sent',
    '',
    '| MSH-9 | MSH-21 | when |',
    '|---|---|---|',
    ...HL7_OUTBOUND_MESSAGES.map((m) => `| \`${m.messageType}\` | ${m.profile ? `\`${m.profile}\`` : ''} | ${cell(m.when)} |`),
    '',
  ].join('\n');
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() as string)) {
  await writeFile(INTEGRATION_STATEMENT_FILE, integrationStatement());
  console.log(`wrote ${INTEGRATION_STATEMENT_FILE.pathname}`);
}
