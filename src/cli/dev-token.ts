// Development bearer token (RFC 6750 / RFC 7519, SMART App Launch v2 claims) signed by the local dev issuer.
import { parseArgs } from 'node:util';
import { loadOrCreateDevSigningKey, signDevToken } from '../http/auth/dev-keys.js';
import { FHIR_USER_PATTERN, ROLE_PATTERN } from '../http/auth/jwt-authenticator.js';

const USAGE = `Usage: node --import tsx src/cli/dev-token.ts --fhir-user <Type/id> [options]

Prints a development bearer token (issuer urn:teleo:dev) on stdout.

Options:
  --fhir-user <ref>   Practitioner/…, PractitionerRole/…, Patient/…, Device/… or RelatedPerson/… (required)
  --role <ref>        PractitionerRole/… the user acts in
  --scope <scopes>    space-separated SMART scopes (default "user/*.cruds")
  --expires <span>    lifetime, e.g. 30m, 8h, 2d (default 8h)
  --sub <id>          token subject (default: the --fhir-user value)
  --audience <aud>    aud claim
  --data-dir <dir>    data directory holding keys/dev-issuer.json (default $DATA_DIR or ./data)
  -h, --help          show this help
`;

function usageError(message: string): never {
  console.error(`dev-token: ${message}\n\n${USAGE}`);
  process.exit(2);
}

function parse(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'fhir-user': { type: 'string' },
        role: { type: 'string' },
        scope: { type: 'string', default: 'user/*.cruds' },
        expires: { type: 'string', default: '8h' },
        sub: { type: 'string' },
        audience: { type: 'string' },
        // The config module (src/config/) owns DATA_DIR for the server; this tool only reads the env variable.
        'data-dir': { type: 'string', default: process.env.DATA_DIR || './data' },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    return usageError((err as Error).message);
  }
}

async function main(argv: string[]): Promise<void> {
  const { values } = parse(argv);
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }

  const fhirUser = values['fhir-user'];
  if (fhirUser === undefined) usageError('--fhir-user is required');
  if (!FHIR_USER_PATTERN.test(fhirUser)) usageError(`invalid --fhir-user "${fhirUser}"`);
  if (values.role !== undefined && !ROLE_PATTERN.test(values.role)) {
    usageError(`invalid --role "${values.role}": expected PractitionerRole/<id>`);
  }
  if (values.scope.trim() === '') usageError('--scope must not be empty');
  if (values.sub !== undefined && values.sub === '') usageError('--sub must not be empty');
  if (values['data-dir'] === '') usageError('--data-dir must not be empty');

  const { issuer, secret } = await loadOrCreateDevSigningKey(values['data-dir']);
  let token: string;
  try {
    token = await signDevToken({
      secret,
      issuer,
      sub: values.sub ?? fhirUser,
      fhirUser,
      scope: values.scope,
      expiresIn: values.expires,
      ...(values.role !== undefined ? { role: values.role } : {}),
      ...(values.audience !== undefined ? { audience: values.audience } : {}),
    });
  } catch (err) {
    // jose rejects malformed time spans with a TypeError ("Invalid time period format").
    if (err instanceof TypeError) usageError(`invalid --expires "${values.expires}": ${err.message}`);
    throw err;
  }
  process.stdout.write(token + '\n');
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(`dev-token: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
