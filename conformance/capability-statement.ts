// Writes conformance/CapabilityStatement.json: the FHIR R4 CapabilityStatement the server generates at start.
import { writeFile } from 'node:fs/promises';
import { startTestServer } from '../src/http/test-server.js';

export const CAPABILITY_FILE = new URL('./CapabilityStatement.json', import.meta.url);

/** The published form: the generated statement without its volatile `date`. */
export async function generatedCapabilityStatement(): Promise<Record<string, unknown>> {
  const server = await startTestServer('pglite');
  try {
    const cs = (await (await fetch(`${server.base}/metadata`)).json()) as Record<string, unknown>;
    delete cs.date;
    delete (cs.implementation as Record<string, unknown>).url;
    // The advertised websocket URL carries the test server's random port: published without its host.
    for (const rest of (cs.rest as { extension?: { valueUri?: string }[] }[] | undefined) ?? []) {
      for (const e of rest.extension ?? []) if (e.valueUri) e.valueUri = e.valueUri.replace(/^wss?:\/\/[^/]+/, 'ws://<host>');
    }
    return cs;
  } finally {
    await server.close();
  }
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() as string)) {
  const cs = await generatedCapabilityStatement();
  await writeFile(CAPABILITY_FILE, JSON.stringify(cs, null, 1) + '\n');
  console.log(`wrote ${CAPABILITY_FILE.pathname}`);
}
