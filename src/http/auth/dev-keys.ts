// Development issuer for RFC 7519 JWTs signed with HS256 (RFC 7518 §3.2); never for production identity.
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, rename, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SignJWT } from 'jose';
import { MIN_SECRET_LENGTH, hmacKeyFromSecret } from './jwt-authenticator.js';

export const DEV_ISSUER = 'urn:teleo:dev';

interface DevKeyFile {
  issuer: string;
  secret: string;
  createdAt: string;
}

/**
 * Returns the development issuer and its HS256 secret, kept in `<dataDir>/keys/dev-issuer.json` (mode 0600).
 * The file is created on first use (32 random bytes, base64url) and reused afterwards.
 */
export async function loadOrCreateDevSigningKey(dataDir: string): Promise<{ issuer: string; secret: string }> {
  const dir = join(dataDir, 'keys');
  const file = join(dir, 'dev-issuer.json');
  const existing = await readKeyFile(file);
  if (existing) return existing;

  await mkdir(dir, { recursive: true, mode: 0o700 });
  const content: DevKeyFile = {
    issuer: DEV_ISSUER,
    secret: randomBytes(32).toString('base64url'),
    createdAt: new Date().toISOString(),
  };
  const tmp = join(dir, `.dev-issuer.json.${process.pid}.${randomUUID()}.tmp`);
  const handle = await open(tmp, 'wx', 0o600);
  try {
    await handle.writeFile(JSON.stringify(content, null, 2) + '\n', 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  await chmod(tmp, 0o600); // independent of the umask
  try {
    // link() publishes the file only if absent: a concurrent creator cannot be silently overwritten.
    await link(tmp, file);
    await unlink(tmp);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      await unlink(tmp);
    } else if (code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS') {
      await rename(tmp, file); // filesystems without hard links
    } else {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }
  const stored = await readKeyFile(file);
  if (!stored) throw new Error(`Development key file ${file} vanished after creation`);
  return stored;
}

async function readKeyFile(file: string): Promise<{ issuer: string; secret: string } | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  let parsed: Partial<DevKeyFile>;
  try {
    parsed = JSON.parse(text) as Partial<DevKeyFile>;
  } catch {
    throw new Error(`Development key file ${file} is not valid JSON; delete it to regenerate`);
  }
  if (parsed?.issuer !== DEV_ISSUER || typeof parsed.secret !== 'string' || parsed.secret.length < MIN_SECRET_LENGTH) {
    throw new Error(`Development key file ${file} is invalid; delete it to regenerate`);
  }
  return { issuer: parsed.issuer, secret: parsed.secret };
}

export interface DevTokenOptions {
  secret: string;
  issuer: string;
  sub: string;
  fhirUser?: string;
  role?: string;
  scope?: string;
  /** jose time span, e.g. `8h`, `30m`, `2 days` (default `8h`). */
  expiresIn?: string;
  audience?: string;
}

/** Signs an HS256 JWT that the JWT authenticator accepts when configured with the same issuer and secret. */
export async function signDevToken(opts: DevTokenOptions): Promise<string> {
  const claims: Record<string, string> = {};
  if (opts.fhirUser !== undefined) claims.fhirUser = opts.fhirUser;
  if (opts.role !== undefined) claims.role = opts.role;
  if (opts.scope !== undefined) claims.scope = opts.scope;
  const jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setIssuer(opts.issuer)
    .setSubject(opts.sub)
    .setJti(randomUUID())
    .setIssuedAt()
    .setExpirationTime(opts.expiresIn ?? '8h');
  if (opts.audience !== undefined) jwt.setAudience(opts.audience);
  return jwt.sign(hmacKeyFromSecret(opts.secret));
}
