// Tests for RFC 6750 / RFC 7519 bearer authentication, SMART App Launch v2 claim mapping and the dev token tooling.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import type { JWTPayload } from 'jose';
import { OperationOutcomeError } from '../../kernel/errors.js';
import { createJwtAuthenticator, hmacKeyFromSecret } from './jwt-authenticator.js';
import type { Authenticator } from './jwt-authenticator.js';
import { DEV_ISSUER, loadOrCreateDevSigningKey, signDevToken } from './dev-keys.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const ISSUER = 'https://idp.example.org';
const SECRET = randomBytes(32).toString('base64url');

function hs256(claims: JWTPayload, opts: { secret?: string; exp?: number | string; sub?: string | null } = {}) {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt().setExpirationTime(opts.exp ?? '1h');
  if (opts.sub !== null) jwt.setSubject(opts.sub ?? 'user-1');
  if (claims.iss === undefined) jwt.setIssuer(ISSUER);
  return jwt.sign(hmacKeyFromSecret(opts.secret ?? SECRET));
}

async function rejection(auth: Authenticator, header: string | undefined): Promise<string | undefined> {
  try {
    await auth.authenticate(header);
  } catch (err) {
    expect(err).to.be.instanceOf(OperationOutcomeError);
    const outcome = (err as OperationOutcomeError).outcome;
    expect(outcome.id).to.equal('401');
    expect(outcome.issue[0].code).to.equal('login');
    return outcome.issue[0].details?.text;
  }
  expect.fail('authentication should have failed');
}

describe('JWT authenticator', () => {
  let auth: Authenticator;
  before(async () => {
    auth = await createJwtAuthenticator([{ issuer: ISSUER, secret: SECRET }]);
  });

  it('accepts a valid HS256 token and maps its claims to a principal', async () => {
    const token = await hs256({
      fhirUser: 'Practitioner/123',
      role: 'PractitionerRole/456',
      scope: 'user/*.cruds  launch openid',
      client_id: 'viewer-app',
    });
    const principal = await auth.authenticate(`Bearer ${token}`);
    expect(principal).to.deep.equal({
      sub: 'user-1',
      iss: ISSUER,
      fhirUser: 'Practitioner/123',
      role: 'PractitionerRole/456',
      scopes: ['user/*.cruds', 'launch', 'openid'],
      clientId: 'viewer-app',
    });
  });

  it('takes scopes from an scp array and the client from azp', async () => {
    const token = await hs256({ scp: ['system/Task.rs'], azp: 'worker' });
    const principal = await auth.authenticate(`bearer ${token}`);
    expect(principal.scopes).to.deep.equal(['system/Task.rs']);
    expect(principal.clientId).to.equal('worker');
    expect(principal.fhirUser).to.equal(undefined);
  });

  it('accepts an ES256 token verified against a JWKS and an audience', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256');
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const es = await createJwtAuthenticator([{ issuer: 'https://psc.example.fr', audience: 'teleo', jwks: { keys: [jwk] } }]);
    const token = await new SignJWT({ fhirUser: 'Patient/p-9', scope: 'patient/*.rs' })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer('https://psc.example.fr').setAudience('teleo').setSubject('abc').setExpirationTime('5m')
      .sign(privateKey);
    const principal = await es.authenticate(`Bearer ${token}`);
    expect(principal).to.include({ sub: 'abc', iss: 'https://psc.example.fr', fhirUser: 'Patient/p-9' });
    expect(principal.scopes).to.deep.equal(['patient/*.rs']);
  });

  it('loads a JWKS from a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'teleo-jwks-'));
    try {
      const { publicKey, privateKey } = await generateKeyPair('RS256');
      const file = join(dir, 'jwks.json');
      await writeFile(file, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'r1' }] }));
      const rs = await createJwtAuthenticator([{ issuer: 'https://rs.example', jwksFile: file }]);
      const token = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'r1' })
        .setIssuer('https://rs.example').setSubject('s').setExpirationTime('5m').sign(privateKey);
      expect((await rs.authenticate(`Bearer ${token}`)).sub).to.equal('s');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects a missing Authorization header', async () => {
    expect(await rejection(auth, undefined)).to.equal('Missing Authorization header');
    expect(await rejection(auth, '  ')).to.equal('Missing Authorization header');
  });

  it('rejects a non-Bearer Authorization header', async () => {
    expect(await rejection(auth, 'Basic dXNlcjpwYXNz')).to.match(/^Malformed Authorization header/);
    expect(await rejection(auth, 'Bearer')).to.match(/^Malformed Authorization header/);
  });

  it('rejects a garbage bearer token', async () => {
    expect(await rejection(auth, 'Bearer not-a-jwt')).to.equal('Malformed bearer token: not a JWT');
  });

  it('rejects a token with a bad signature', async () => {
    const token = await hs256({}, { secret: randomBytes(32).toString('base64url') });
    expect(await rejection(auth, `Bearer ${token}`)).to.equal('Invalid token signature');
  });

  it('rejects a token signed with an algorithm the issuer does not use (alg confusion)', async () => {
    const { privateKey } = await generateKeyPair('ES256');
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'ES256' })
      .setIssuer(ISSUER).setSubject('x').setExpirationTime('5m').sign(privateKey);
    expect(await rejection(auth, `Bearer ${token}`)).to.equal('Token signing algorithm not allowed');
  });

  it('rejects an expired token', async () => {
    const token = await hs256({}, { exp: Math.floor(Date.now() / 1000) - 3600 });
    expect(await rejection(auth, `Bearer ${token}`)).to.equal('Token expired');
  });

  it('rejects a token without exp', async () => {
    const token = await new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setIssuer(ISSUER).setSubject('x')
      .sign(hmacKeyFromSecret(SECRET));
    expect(await rejection(auth, `Bearer ${token}`)).to.equal('Token has no expiry (exp) claim');
  });

  it('rejects a token from an unknown issuer', async () => {
    const token = await hs256({ iss: 'https://evil.example' });
    expect(await rejection(auth, `Bearer ${token}`)).to.equal('Token issuer is not trusted');
  });

  it('rejects a token for the wrong audience', async () => {
    const withAud = await createJwtAuthenticator([{ issuer: ISSUER, secret: SECRET, audience: 'teleo' }]);
    const token = await hs256({ aud: 'someone-else' });
    expect(await rejection(withAud, `Bearer ${token}`)).to.equal('Token audience mismatch');
  });

  it('rejects a token without sub', async () => {
    const token = await hs256({}, { sub: null });
    expect(await rejection(auth, `Bearer ${token}`)).to.equal('Token has no subject (sub) claim');
  });

  it('rejects a malformed fhirUser claim', async () => {
    for (const fhirUser of ['Organization/1', 'Practitioner/../x', 'https://x/Practitioner/1', 'Practitioner/']) {
      const token = await hs256({ fhirUser });
      expect(await rejection(auth, `Bearer ${token}`)).to.match(/^Invalid fhirUser claim/);
    }
  });

  it('rejects a role that is not a PractitionerRole reference and a non-string scope', async () => {
    expect(await rejection(auth, `Bearer ${await hs256({ role: 'Practitioner/1' })}`)).to.match(/^Invalid role claim/);
    expect(await rejection(auth, `Bearer ${await hs256({ scope: ['a'] })}`)).to.match(/^Invalid scope claim/);
  });

  it('refuses invalid issuer configurations', async () => {
    const failures = [
      [{ issuer: ISSUER }],
      [{ issuer: ISSUER, secret: 'short' }],
      [{ issuer: ISSUER, secret: SECRET }, { issuer: ISSUER, secret: SECRET }],
      [{ issuer: ISSUER, jwks: { keys: [{ kty: 'oct', k: 'abc' }] } }],
    ];
    for (const issuers of failures) {
      let failed = false;
      await createJwtAuthenticator(issuers).catch(() => (failed = true));
      expect(failed, JSON.stringify(issuers)).to.equal(true);
    }
  });
});

describe('Development issuer', () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'teleo-dev-keys-'));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it('creates the key file once with mode 0600 and reuses it', async () => {
    const first = await loadOrCreateDevSigningKey(dataDir);
    const file = join(dataDir, 'keys', 'dev-issuer.json');
    expect(first.issuer).to.equal(DEV_ISSUER);
    expect(Buffer.from(first.secret, 'base64url')).to.have.length(32);
    expect((await stat(file)).mode & 0o777).to.equal(0o600);
    const before = await readFile(file, 'utf8');
    const second = await loadOrCreateDevSigningKey(dataDir);
    expect(second).to.deep.equal(first);
    expect(await readFile(file, 'utf8')).to.equal(before);
  });

  it('agrees on one key when created concurrently', async () => {
    const keys = await Promise.all([1, 2, 3, 4].map(() => loadOrCreateDevSigningKey(dataDir)));
    for (const k of keys) expect(k).to.deep.equal(keys[0]);
    expect(await readdir(join(dataDir, 'keys'))).to.deep.equal(['dev-issuer.json']);
  });

  it('signs dev tokens the authenticator accepts', async () => {
    const { issuer, secret } = await loadOrCreateDevSigningKey(dataDir);
    const auth = await createJwtAuthenticator([{ issuer, secret, audience: 'teleo' }]);
    const token = await signDevToken({
      secret, issuer, sub: 'dev', fhirUser: 'Practitioner/123', role: 'PractitionerRole/456',
      scope: 'user/*.cruds', audience: 'teleo', expiresIn: '10m',
    });
    expect(await auth.authenticate(`Bearer ${token}`)).to.deep.equal({
      sub: 'dev', iss: DEV_ISSUER, fhirUser: 'Practitioner/123', role: 'PractitionerRole/456', scopes: ['user/*.cruds'],
    });
  });

  it('the dev-token command prints a token the authenticator accepts', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', 'src/cli/dev-token.ts', '--fhir-user', 'Practitioner/123', '--role', 'PractitionerRole/456'],
      { cwd: ROOT, env: { ...process.env, DATA_DIR: dataDir } },
    );
    const { issuer, secret } = await loadOrCreateDevSigningKey(dataDir);
    const auth = await createJwtAuthenticator([{ issuer, secret }]);
    const principal = await auth.authenticate(`Bearer ${stdout.trim()}`);
    expect(principal).to.include({ sub: 'Practitioner/123', fhirUser: 'Practitioner/123', role: 'PractitionerRole/456' });
    expect(principal.scopes).to.deep.equal(['user/*.cruds']);
  });

  it('the dev-token command exits 2 with usage on bad arguments', async () => {
    for (const args of [[], ['--fhir-user', 'Organization/1'], ['--fhir-user', 'Patient/1', '--bogus']]) {
      const err = await run(process.execPath, ['--import', 'tsx', 'src/cli/dev-token.ts', '--data-dir', dataDir, ...args], { cwd: ROOT })
        .then(() => undefined, (e: { code: number; stderr: string }) => e);
      expect(err, args.join(' ')).to.not.equal(undefined);
      expect(err?.code).to.equal(2);
      expect(err?.stderr).to.contain('Usage:');
    }
  });
});
