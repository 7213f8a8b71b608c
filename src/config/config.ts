// Typed, validated, frozen configuration: the only reader of process.env (12-factor), plus an optional JSON file.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { IssuerConfig } from '../http/auth/jwt-authenticator.js';
import { DIMSE_OPERATIONS, type KnownAe } from '../dicom/association-policy.js';
import type { LogLevel } from '../kernel/logger.js';
import type { PacsDefinition } from '../workflow/imaging/pacs-port.js';
import { parsePacsList } from './pacs-config.js';
import { parseHl7Partners } from './hl7-config.js';
import type { Hl7Partner } from '../hl7v2/hl7-partner.js';
import type { AeRoute } from '../workflow/imaging/ae-title-routing.js';
import { WORKFLOWS } from '../workflow/teleexpertise/index.js';

export interface Config {
  readonly httpPort: number;
  readonly httpHost: string;
  /** Public base URL of the FHIR endpoint (Location headers, bundle links, fullUrls); default http://localhost:<port>/fhir. */
  readonly baseUrl?: string;
  readonly dataDir: string;
  readonly databaseUrl?: string;
  readonly dbPoolSize: number;
  readonly logLevel: LogLevel | 'silent';
  readonly profilesDir: string;
  readonly issuers: readonly IssuerConfig[];
  /** Trust tokens signed with the development key in `<dataDir>/keys` (`npm run token`). */
  readonly devIssuer: boolean;
  readonly searchDefaultCount: number;
  readonly searchMaxCount: number;
  readonly maxJsonBytes: number;
  readonly maxBinaryBytes: number;
  /** Profiles every resource of a type must conform to, in addition to those it declares. */
  readonly requiredProfiles: Readonly<Record<string, readonly string[]>>;
  readonly shutdownTimeoutMs: number;
  /** HMAC-SHA256 secrets of rest-hook notifications, keyed by `Subscription/<id>` or by endpoint URL prefix. */
  readonly subscriptionSecrets: Readonly<Record<string, string>>;
  /** Failed attempts of one delivery after which a Subscription shows status `error`. */
  readonly subscriptionErrorAfter: number;
  readonly restHookTimeoutMs: number;
  /** SMTP relay of the e-mail/SMS outbox (`smtp://user:pass@host:587`); unset = messages go to the log. */
  readonly smtpUrl?: string;
  readonly smtpFrom: string;
  /** Domain of an e-mail-to-SMS gateway (SMS sent as mail to `<number>@<domain>`); unset = SMS go to the log. */
  readonly smsEmailGateway?: string;
  /** Delay before an unread urgent dossier escalates, for urgent workflows without their own entry in `escalation`. */
  readonly escalationDelaySeconds: number;
  /** Per urgent workflow code: `{ "delaySeconds": 600, "backup": ["PractitionerRole/…"] }`. */
  readonly escalation: Readonly<Record<string, { readonly delaySeconds?: number; readonly backup?: readonly string[] }>>;
  /** DIMSE listener port; unset = no DICOM listener. */
  readonly dicomPort?: number;
  readonly dicomAeTitle: string;
  /** Remote AEs allowed to associate: `[{ "aeTitle", "host"?, "port"?, "operations": ["echo", "store"] }]`. */
  readonly dicomKnownAes: readonly KnownAe[];
  /** Accept associations from AEs not in `dicomKnownAes` (echo and store). Default false. */
  readonly dicomAcceptUnknownAes: boolean;
  readonly dicomMaxAssociations: number;
  /** Hospital PACS queried and retrieved from for télédossiers (pacs-config.ts PACS_SHAPE); each may C-STORE to us. */
  readonly pacs: readonly PacsDefinition[];
  /** Called AE titles of ours dedicated to a workflow (studies sent to them attach to the patient's open dossier of it). */
  readonly dicomAeRoutes: readonly AeRoute[];
  /** HL7 v2 MLLP listener port; unset = no HL7 listener. */
  readonly mllpPort?: number;
  /** Our MSH-3 / MSH-4. */
  readonly hl7Application: string;
  readonly hl7Facility: string;
  /** RIS / DPI / GAM partners (hl7-config.ts HL7_PARTNERS_SHAPE). */
  readonly hl7Partners: readonly Hl7Partner[];
  /** Accept messages from senders that are not configured partners. Default false (answered AR). */
  readonly hl7AcceptUnknownSenders: boolean;
  readonly hl7MaxMessageBytes: number;
  readonly hl7MaxConnections: number;
  readonly hl7AckTimeoutMs: number;
  /** MLLP over TLS on the listener: PEM key and certificate; with a CA file, client certificates are required (and trusted for partners with tls). */
  readonly hl7TlsKeyFile?: string;
  readonly hl7TlsCertFile?: string;
  readonly hl7TlsCaFile?: string;
  /** DICOM TLS (PS3.15 B.1) on the DIMSE listener: PEM key and certificate files; with a CA file, client certificates are required. */
  readonly dicomTlsKeyFile?: string;
  readonly dicomTlsCertFile?: string;
  readonly dicomTlsCaFile?: string;
  /** Automatic study forwarding per workflow code: `{ "rcp-greffe-renale": { "destination": "<known AE>", "useDossierIdentity": true } }`. */
  readonly dicomForwarding: Readonly<Record<string, { readonly destination: string; readonly useDossierIdentity?: boolean }>>;
  /** A study is forwarded once none of its instances has arrived for this long. */
  readonly dicomForwardingQuietSeconds: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

type Env = Record<string, string | undefined>;
type FileConfig = Partial<Record<keyof Config, unknown>>;

const LEVELS = ['debug', 'info', 'warn', 'error', 'silent'];

/** Reads configuration from `env` (defaults to process.env) and the JSON file named by CONFIG_FILE; env wins. */
export function loadConfig(env: Env = process.env, overrides: Partial<Config> = {}): Config {
  const problems: string[] = [];
  let file: FileConfig = {};
  if (env.CONFIG_FILE) {
    try {
      file = JSON.parse(readFileSync(env.CONFIG_FILE, 'utf8')) as FileConfig;
    } catch (e) {
      problems.push(`CONFIG_FILE ${env.CONFIG_FILE}: ${(e as Error).message}`);
    }
  }
  const pick = (envName: string, key: keyof Config): unknown => env[envName] ?? file[key];
  const int = (envName: string, key: keyof Config, dflt: number, min: number, max: number): number => {
    const raw = pick(envName, key);
    if (raw === undefined || raw === '') return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${envName} must be an integer between ${min} and ${max} (got ${JSON.stringify(raw)})`);
      return dflt;
    }
    return n;
  };
  const str = (envName: string, key: keyof Config, dflt?: string): string | undefined => {
    const raw = pick(envName, key);
    if (raw === undefined || raw === '') return dflt;
    if (typeof raw !== 'string') { problems.push(`${envName} must be a string`); return dflt; }
    return raw;
  };
  const json = <T>(envName: string, key: keyof Config, dflt: T, check: (v: unknown) => boolean, what: string): T => {
    let raw = pick(envName, key);
    if (raw === undefined || raw === '') return dflt;
    if (typeof raw === 'string') {
      try { raw = JSON.parse(raw); } catch { problems.push(`${envName} is not valid JSON`); return dflt; }
    }
    if (!check(raw)) { problems.push(`${envName} must be ${what}`); return dflt; }
    return raw as T;
  };

  const httpPort = int('HTTP_PORT', 'httpPort', 8080, 0, 65535);
  const logLevel = str('LOG_LEVEL', 'logLevel', 'info') as string;
  if (!LEVELS.includes(logLevel)) problems.push(`LOG_LEVEL must be one of ${LEVELS.join(', ')} (got "${logLevel}")`);
  const databaseUrl = str('DATABASE_URL', 'databaseUrl');
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) problems.push('DATABASE_URL must start with postgres:// or postgresql://');
  const baseUrl = str('BASE_URL', 'baseUrl')?.replace(/\/$/, '');
  if (baseUrl) try { new URL(baseUrl); } catch { problems.push(`BASE_URL is not a URL: ${baseUrl}`); }
  const devRaw = str('AUTH_DEV_ISSUER', 'devIssuer', env.NODE_ENV === 'production' ? 'false' : 'true');
  if (devRaw !== 'true' && devRaw !== 'false') problems.push('AUTH_DEV_ISSUER must be true or false');
  const issuers = json<IssuerConfig[]>('AUTH_ISSUERS', 'issuers', [],
    (v) => Array.isArray(v) && v.every((i) => typeof i === 'object' && i !== null && typeof (i as IssuerConfig).issuer === 'string'),
    'a JSON array of {issuer, secret | jwks | jwksFile, audience?}');
  const requiredProfiles = json<Record<string, string[]>>('REQUIRED_PROFILES', 'requiredProfiles', {},
    (v) => typeof v === 'object' && v !== null && !Array.isArray(v)
      && Object.values(v).every((l) => Array.isArray(l) && l.every((u) => typeof u === 'string')),
    'a JSON object mapping a resource type to a list of profile URLs');
  const subscriptionSecrets = json<Record<string, string>>('SUBSCRIPTION_SECRETS', 'subscriptionSecrets', {},
    (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'string' && x.length >= 16),
    'a JSON object mapping Subscription/<id> or an endpoint URL prefix to a secret of at least 16 characters');
  const escalation = json<Config['escalation']>('ESCALATION', 'escalation', {},
    (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((w) => typeof w === 'object' && w !== null
      && (w.delaySeconds === undefined || (Number.isInteger(w.delaySeconds) && w.delaySeconds >= 0))
      && (w.backup === undefined || (Array.isArray(w.backup) && w.backup.every((r: unknown) => typeof r === 'string' && /^[A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(r))))),
    'a JSON object mapping a workflow code to { "delaySeconds": <integer>, "backup": ["PractitionerRole/<id>", …] }');
  const dicomKnownAes = json<KnownAe[]>('DICOM_KNOWN_AES', 'dicomKnownAes', [],
    (v) => Array.isArray(v) && v.every((ae) => typeof ae === 'object' && ae !== null
      && typeof ae.aeTitle === 'string' && /^[^\\]{1,16}$/.test(ae.aeTitle.trim())
      && (ae.host === undefined || typeof ae.host === 'string')
      && (ae.port === undefined || (Number.isInteger(ae.port) && ae.port > 0 && ae.port < 65536))
      && Array.isArray(ae.operations) && ae.operations.every((o: unknown) => DIMSE_OPERATIONS.includes(o as KnownAe['operations'][number]))),
    `a JSON array of { "aeTitle": <1-16 characters>, "host"?: <IP or name>, "port"?: <port>, "operations": [${DIMSE_OPERATIONS.map((o) => `"${o}"`).join(', ')}] }`);
  const dicomAeRoutes = json<AeRoute[]>('DICOM_AE_ROUTES', 'dicomAeRoutes', [],
    (v) => Array.isArray(v) && v.every((r) => typeof r === 'object' && r !== null
      && typeof r.aeTitle === 'string' && /^[^\\]{1,16}$/.test(r.aeTitle.trim())
      && typeof r.workflow === 'string' && WORKFLOWS.some((w) => w.code === r.workflow)
      && (r.requisOrganization === undefined || (typeof r.requisOrganization === 'string' && /^Organization\/[A-Za-z0-9\-.]{1,64}$/.test(r.requisOrganization)))),
    `a JSON array of { "aeTitle": <1-16 characters>, "workflow": <one of ${WORKFLOWS.map((w) => w.code).join(', ')}>, "requisOrganization"?: "Organization/<id>" }`);
  const dicomAeTitle = str('DICOM_AE_TITLE', 'dicomAeTitle', 'TELEO') as string;
  if (!/^[^\\]{1,16}$/.test(dicomAeTitle.trim())) problems.push('DICOM_AE_TITLE must be 1 to 16 characters without backslash');
  const dicomUnknownRaw = str('DICOM_ACCEPT_UNKNOWN_AES', 'dicomAcceptUnknownAes', 'false');
  if (dicomUnknownRaw !== 'true' && dicomUnknownRaw !== 'false') problems.push('DICOM_ACCEPT_UNKNOWN_AES must be true or false');
  const dicomPortRaw = pick('DICOM_PORT', 'dicomPort');
  const dicomForwarding = json<Config['dicomForwarding']>('DICOM_FORWARDING', 'dicomForwarding', {},
    (v) => typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((r) => typeof r === 'object' && r !== null
      && typeof r.destination === 'string' && (r.useDossierIdentity === undefined || typeof r.useDossierIdentity === 'boolean')),
    'a JSON object mapping a workflow code to { "destination": "<AE title of a DICOM_KNOWN_AES entry with host and port>", "useDossierIdentity"?: true|false }');
  for (const [code, rule] of Object.entries(dicomForwarding)) {
    if (!WORKFLOWS.some((w) => w.code === code)) problems.push(`DICOM_FORWARDING: unknown workflow code "${code}" (known: ${WORKFLOWS.map((w) => w.code).join(', ')})`);
    if (!dicomKnownAes.some((ae) => ae.aeTitle.trim() === rule.destination.trim() && ae.host && ae.port)) {
      problems.push(`DICOM_FORWARDING: destination "${rule.destination}" of "${code}" must be a DICOM_KNOWN_AES entry with a host and a port`);
    }
  }
  const mllpPortRaw = pick('MLLP_PORT', 'mllpPort');
  const hl7UnknownRaw = str('HL7V2_ACCEPT_UNKNOWN_SENDERS', 'hl7AcceptUnknownSenders', 'false');
  if (hl7UnknownRaw !== 'true' && hl7UnknownRaw !== 'false') problems.push('HL7V2_ACCEPT_UNKNOWN_SENDERS must be true or false');
  const hl7TlsKeyFile = str('HL7V2_TLS_KEY_FILE', 'hl7TlsKeyFile');
  const hl7TlsCertFile = str('HL7V2_TLS_CERT_FILE', 'hl7TlsCertFile');
  const hl7TlsCaFile = str('HL7V2_TLS_CA_FILE', 'hl7TlsCaFile');
  if (!hl7TlsKeyFile !== !hl7TlsCertFile) problems.push('HL7V2_TLS_KEY_FILE and HL7V2_TLS_CERT_FILE go together (both or neither)');
  const dicomTlsKeyFile = str('DICOM_TLS_KEY_FILE', 'dicomTlsKeyFile');
  const dicomTlsCertFile = str('DICOM_TLS_CERT_FILE', 'dicomTlsCertFile');
  const dicomTlsCaFile = str('DICOM_TLS_CA_FILE', 'dicomTlsCaFile');
  if (!dicomTlsKeyFile !== !dicomTlsCertFile) problems.push('DICOM_TLS_KEY_FILE and DICOM_TLS_CERT_FILE go together (both or neither)');
  if (dicomTlsCaFile && !dicomTlsKeyFile) problems.push('DICOM_TLS_CA_FILE needs DICOM_TLS_KEY_FILE and DICOM_TLS_CERT_FILE');
  const smtpUrl = str('SMTP_URL', 'smtpUrl');
  if (smtpUrl && !/^smtps?:\/\//.test(smtpUrl)) problems.push('SMTP_URL must start with smtp:// or smtps://');

  const config: Config = {
    httpPort,
    httpHost: str('HTTP_HOST', 'httpHost', '0.0.0.0') as string,
    baseUrl,
    dataDir: resolve(str('DATA_DIR', 'dataDir', './data') as string),
    databaseUrl,
    dbPoolSize: int('DB_POOL_SIZE', 'dbPoolSize', 10, 1, 200),
    logLevel: logLevel as Config['logLevel'],
    profilesDir: resolve(str('PROFILES_DIR', 'profilesDir', './profiles') as string),
    issuers,
    devIssuer: devRaw === 'true',
    searchDefaultCount: int('SEARCH_DEFAULT_COUNT', 'searchDefaultCount', 20, 1, 1000),
    searchMaxCount: int('SEARCH_MAX_COUNT', 'searchMaxCount', 1000, 1, 10000),
    maxJsonBytes: int('MAX_JSON_BYTES', 'maxJsonBytes', 16 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    maxBinaryBytes: int('MAX_BINARY_BYTES', 'maxBinaryBytes', 2 * 1024 * 1024 * 1024, 1024, Number.MAX_SAFE_INTEGER),
    requiredProfiles,
    shutdownTimeoutMs: int('SHUTDOWN_TIMEOUT_MS', 'shutdownTimeoutMs', 10_000, 0, 600_000),
    subscriptionSecrets,
    subscriptionErrorAfter: int('SUBSCRIPTION_ERROR_AFTER', 'subscriptionErrorAfter', 3, 1, 100),
    restHookTimeoutMs: int('REST_HOOK_TIMEOUT_MS', 'restHookTimeoutMs', 5000, 100, 120_000),
    smtpUrl,
    smtpFrom: str('SMTP_FROM', 'smtpFrom', 'TéléO <no-reply@teleo.invalid>') as string,
    smsEmailGateway: str('SMS_EMAIL_GATEWAY', 'smsEmailGateway'),
    escalationDelaySeconds: int('ESCALATION_DELAY_S', 'escalationDelaySeconds', 900, 0, 7 * 24 * 3600),
    escalation,
    dicomPort: dicomPortRaw === undefined || dicomPortRaw === '' ? undefined : int('DICOM_PORT', 'dicomPort', 11112, 0, 65535),
    dicomAeTitle: dicomAeTitle.trim(),
    dicomKnownAes,
    dicomAcceptUnknownAes: dicomUnknownRaw === 'true',
    dicomMaxAssociations: int('DICOM_MAX_ASSOCIATIONS', 'dicomMaxAssociations', 20, 1, 1000),
    pacs: parsePacsList(pick('PACS', 'pacs'), problems),
    dicomAeRoutes,
    dicomTlsKeyFile: dicomTlsKeyFile && resolve(dicomTlsKeyFile),
    dicomTlsCertFile: dicomTlsCertFile && resolve(dicomTlsCertFile),
    dicomTlsCaFile: dicomTlsCaFile && resolve(dicomTlsCaFile),
    dicomForwarding,
    mllpPort: mllpPortRaw === undefined || mllpPortRaw === '' ? undefined : int('MLLP_PORT', 'mllpPort', 2575, 0, 65535),
    hl7Application: str('HL7V2_APPLICATION', 'hl7Application', 'TELEO') as string,
    hl7Facility: str('HL7V2_FACILITY', 'hl7Facility', 'TELEO') as string,
    hl7Partners: parseHl7Partners(pick('HL7V2_PARTNERS', 'hl7Partners'), problems),
    hl7AcceptUnknownSenders: hl7UnknownRaw === 'true',
    hl7MaxMessageBytes: int('HL7V2_MAX_MESSAGE_BYTES', 'hl7MaxMessageBytes', 16 * 1024 * 1024, 1024, 512 * 1024 * 1024),
    hl7MaxConnections: int('HL7V2_MAX_CONNECTIONS', 'hl7MaxConnections', 64, 1, 10_000),
    hl7AckTimeoutMs: int('HL7V2_ACK_TIMEOUT_MS', 'hl7AckTimeoutMs', 30_000, 100, 600_000),
    hl7TlsKeyFile: hl7TlsKeyFile && resolve(hl7TlsKeyFile),
    hl7TlsCertFile: hl7TlsCertFile && resolve(hl7TlsCertFile),
    hl7TlsCaFile: hl7TlsCaFile && resolve(hl7TlsCaFile),
    dicomForwardingQuietSeconds: int('DICOM_FORWARDING_QUIET_S', 'dicomForwardingQuietSeconds', 30, 0, 86_400),
    ...overrides,
  };
  if (!config.devIssuer && config.issuers.length === 0) {
    problems.push('No token issuer configured: set AUTH_ISSUERS, or AUTH_DEV_ISSUER=true for development');
  }
  const moving = config.pacs.find((p) => p.retrieve === 'c-move');
  if (moving && config.dicomPort === undefined) {
    problems.push(`PACS ${moving.name} retrieves by C-MOVE to our AE: set DICOM_PORT so that the DICOM listener receives its C-STOREs`);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}
