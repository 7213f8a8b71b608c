// RFC 6750 bearer tokens carrying RFC 7519 JWTs (RFC 8725 best practices), claims per SMART App Launch v2.
import { readFile } from 'node:fs/promises';
import { createLocalJWKSet, decodeJwt, errors as joseErrors, jwtVerify } from 'jose';
import type { JWK, JWTPayload, JWTVerifyGetKey } from 'jose';
import { errors } from '../../kernel/errors.js';
import type { OperationOutcomeError } from '../../kernel/errors.js';
import type { Principal } from '../../kernel/principal.js';

/** One trusted token issuer: HS256 via a shared secret, or RS256/ES256/PS256 via a JWKS (inline or in a file). */
export interface IssuerConfig {
  issuer: string;
  /** When set, the token's `aud` must contain this value. */
  audience?: string;
  /** HS256 shared secret (its UTF-8 bytes are the key); at least 32 characters. */
  secret?: string;
  jwks?: { keys: JsonWebKey[] };
  /** Path of a JSON file holding a JWKS (`{ "keys": [...] }`). */
  jwksFile?: string;
}

/** Turns an `Authorization` header into a Principal or throws a 401 OperationOutcomeError. */
export interface Authenticator {
  authenticate(authorizationHeader: string | undefined): Promise<Principal>;
}

export interface JwtAuthenticatorOptions {
  /** Accepted clock skew for `exp` / `nbf` / `iat`, in seconds (default 30). */
  clockToleranceSec?: number;
}

/** `fhirUser` must be a relative reference to one of the user resource types (SMART App Launch v2 §fhirUser). */
export const FHIR_USER_PATTERN = /^(Practitioner|PractitionerRole|Patient|Device|RelatedPerson)\/[A-Za-z0-9\-.]{1,64}$/;
/** `role` must be a relative reference to a PractitionerRole. */
export const ROLE_PATTERN = /^PractitionerRole\/[A-Za-z0-9\-.]{1,64}$/;

export const MIN_SECRET_LENGTH = 32;
const MAX_TOKEN_LENGTH = 16_384;
const HMAC_ALGORITHMS = ['HS256'];
const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256', 'PS256'];

/** The HS256 key for a shared secret: shared with the signer (see dev-keys.ts) so both sides agree on encoding. */
export function hmacKeyFromSecret(secret: string): Uint8Array {
  return new TextEncoder().encode(secret);
}

interface ResolvedIssuer {
  readonly issuer: string;
  readonly audience?: string;
  readonly algorithms: string[];
  readonly key: Uint8Array | JWTVerifyGetKey;
}

export async function createJwtAuthenticator(
  issuers: IssuerConfig[],
  options: JwtAuthenticatorOptions = {},
): Promise<Authenticator> {
  const clockTolerance = options.clockToleranceSec ?? 30;
  if (!Number.isFinite(clockTolerance) || clockTolerance < 0) {
    throw new Error('clockToleranceSec must be a non-negative number');
  }
  const byIssuer = new Map<string, ResolvedIssuer>();
  for (const config of issuers) {
    if (byIssuer.has(config.issuer)) throw new Error(`Issuer configured twice: ${config.issuer}`);
    byIssuer.set(config.issuer, await resolveIssuer(config));
  }

  return {
    async authenticate(authorizationHeader) {
      const token = extractBearerToken(authorizationHeader);
      const iss = peekIssuer(token);
      const trusted = byIssuer.get(iss);
      if (!trusted) throw errors.unauthorized('Token issuer is not trusted');

      let payload: JWTPayload;
      try {
        const verifyOptions = {
          issuer: trusted.issuer,
          algorithms: trusted.algorithms,
          clockTolerance,
          requiredClaims: ['exp'],
          ...(trusted.audience !== undefined ? { audience: trusted.audience } : {}),
        };
        const result =
          trusted.key instanceof Uint8Array
            ? await jwtVerify(token, trusted.key, verifyOptions)
            : await jwtVerify(token, trusted.key, verifyOptions);
        payload = result.payload;
      } catch (err) {
        throw verificationError(err);
      }
      return toPrincipal(payload, trusted.issuer);
    },
  };
}

async function resolveIssuer(config: IssuerConfig): Promise<ResolvedIssuer> {
  if (typeof config.issuer !== 'string' || config.issuer.length === 0) throw new Error('Issuer must be a non-empty string');
  const sources = [config.secret, config.jwks, config.jwksFile].filter((s) => s !== undefined).length;
  if (sources !== 1) {
    throw new Error(`Issuer ${config.issuer}: configure exactly one of secret, jwks, jwksFile`);
  }
  const base = { issuer: config.issuer, ...(config.audience !== undefined ? { audience: config.audience } : {}) };
  if (config.secret !== undefined) {
    if (config.secret.length < MIN_SECRET_LENGTH) {
      throw new Error(`Issuer ${config.issuer}: secret must be at least ${MIN_SECRET_LENGTH} characters`);
    }
    return { ...base, algorithms: HMAC_ALGORITHMS, key: hmacKeyFromSecret(config.secret) };
  }
  const jwks = config.jwks ?? (await readJwksFile(config.issuer, config.jwksFile as string));
  if (!Array.isArray(jwks.keys) || jwks.keys.length === 0) {
    throw new Error(`Issuer ${config.issuer}: JWKS must have a non-empty "keys" array`);
  }
  for (const key of jwks.keys) {
    if (key.kty === 'oct' || 'd' in key) {
      throw new Error(`Issuer ${config.issuer}: JWKS must only hold public keys`);
    }
  }
  return { ...base, algorithms: ASYMMETRIC_ALGORITHMS, key: createLocalJWKSet({ keys: jwks.keys as JWK[] }) };
}

async function readJwksFile(issuer: string, path: string): Promise<{ keys: JsonWebKey[] }> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch (err) {
    throw new Error(`Issuer ${issuer}: cannot read JWKS file ${path}: ${(err as Error).message}`, { cause: err });
  }
  if (typeof parsed !== 'object' || parsed === null || !Array.isArray((parsed as { keys?: unknown }).keys)) {
    throw new Error(`Issuer ${issuer}: JWKS file ${path} must hold an object with a "keys" array`);
  }
  return parsed as { keys: JsonWebKey[] };
}

function extractBearerToken(header: string | undefined): string {
  if (header === undefined || header.trim() === '') throw errors.unauthorized('Missing Authorization header');
  const match = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i.exec(header);
  if (!match) throw errors.unauthorized('Malformed Authorization header: expected "Bearer <token>"');
  const token = match[1];
  if (token.length > MAX_TOKEN_LENGTH) throw errors.unauthorized('Bearer token too large');
  return token;
}

function peekIssuer(token: string): string {
  let claims: JWTPayload;
  try {
    claims = decodeJwt(token);
  } catch {
    throw errors.unauthorized('Malformed bearer token: not a JWT');
  }
  if (typeof claims.iss !== 'string' || claims.iss === '') throw errors.unauthorized('Token has no issuer (iss) claim');
  return claims.iss;
}

function verificationError(err: unknown): OperationOutcomeError {
  if (err instanceof joseErrors.JWTExpired) {
    return errors.unauthorized(err.claim === 'iat' ? 'Token issued too long ago' : 'Token expired');
  }
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return errors.unauthorized('Invalid token signature');
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return errors.unauthorized('Token signing algorithm not allowed');
  if (err instanceof joseErrors.JWKSNoMatchingKey) return errors.unauthorized('No issuer key matches the token');
  if (err instanceof joseErrors.JWKSMultipleMatchingKeys) return errors.unauthorized('Ambiguous token key: add a kid');
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    if (err.claim === 'aud') return errors.unauthorized('Token audience mismatch');
    if (err.claim === 'nbf') return errors.unauthorized('Token not yet valid');
    if (err.claim === 'exp' && err.reason === 'missing') return errors.unauthorized('Token has no expiry (exp) claim');
    return errors.unauthorized(`Invalid token claim: ${err.claim}`);
  }
  if (err instanceof joseErrors.JWSInvalid || err instanceof joseErrors.JWTInvalid) {
    return errors.unauthorized('Malformed bearer token');
  }
  return errors.unauthorized('Token verification failed');
}

function toPrincipal(payload: JWTPayload, iss: string): Principal {
  const sub = payload.sub;
  if (typeof sub !== 'string' || sub === '') throw errors.unauthorized('Token has no subject (sub) claim');

  const fhirUser = optionalString(payload.fhirUser, 'fhirUser');
  if (fhirUser !== undefined && !FHIR_USER_PATTERN.test(fhirUser)) {
    throw errors.unauthorized('Invalid fhirUser claim: expected a Practitioner, PractitionerRole, Patient, Device or RelatedPerson reference');
  }
  const role = optionalString(payload.role, 'role');
  if (role !== undefined && !ROLE_PATTERN.test(role)) {
    throw errors.unauthorized('Invalid role claim: expected a PractitionerRole reference');
  }
  const clientId = optionalString(payload.client_id, 'client_id') ?? optionalString(payload.azp, 'azp');

  return {
    sub,
    iss,
    scopes: Object.freeze(scopesOf(payload)),
    ...(fhirUser !== undefined ? { fhirUser } : {}),
    ...(role !== undefined ? { role } : {}),
    ...(clientId !== undefined ? { clientId } : {}),
  };
}

function optionalString(value: unknown, claim: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw errors.unauthorized(`Invalid ${claim} claim: expected a string`);
  return value;
}

/** `scope` (RFC 8693 §4.2, space-separated string) wins over `scp` (array form used by some providers). */
function scopesOf(payload: JWTPayload): string[] {
  if (payload.scope !== undefined) {
    if (typeof payload.scope !== 'string') throw errors.unauthorized('Invalid scope claim: expected a space-separated string');
    return payload.scope.split(' ').filter((s) => s !== '');
  }
  if (payload.scp !== undefined) {
    const scp = payload.scp;
    if (!Array.isArray(scp) || !scp.every((s): s is string => typeof s === 'string')) {
      throw errors.unauthorized('Invalid scp claim: expected an array of strings');
    }
    return scp.filter((s) => s !== '');
  }
  return [];
}
