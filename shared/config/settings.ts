import { z } from 'zod';
import { delayedRetrySpanMs } from '../messaging/delayed-retry.js';

/**
 * Every setting the app reads, validated once: by `npm run dev` at start-up, by the Functions app on its first
 * invocation (functions/app-runtime.ts). A bad value fails with a message naming the setting, so a typo in an app
 * setting shows up in the deployment's health check instead of as a strange runtime failure.
 */

const flag = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const t = (v ?? '').trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(t)) return true;
    if (['false', '0', 'no', 'off', ''].includes(t)) return false;
    ctx.addIssue({ code: 'custom', message: `must be true or false, got "${v}"` });
    return z.NEVER;
  });

const int = (def: number, min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      const n = Number(v);
      if (!Number.isInteger(n) || n < min || n > max) {
        ctx.addIssue({ code: 'custom', message: `must be a whole number from ${min} to ${max}, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

const probability = (def: number) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def;
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0 || n > 1) {
        ctx.addIssue({ code: 'custom', message: `must be a number from 0 to 1, got "${v}"` });
        return z.NEVER;
      }
      return n;
    });

const optionalText = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

const httpUrl = optionalText.refine((v) => v === undefined || /^https?:\/\/[^/\s]+\/[^\s]+$/.test(v), {
  message:
    'must be the http(s) URL of a blob container, e.g. https://<account>.blob.core.windows.net/backups',
});

/** An OpenID issuer: https, or http on a loopback address (a local test issuer, never a real one). */
const issuerUrl = optionalText.refine(
  (v) =>
    v === undefined ||
    /^https:\/\/[^/\s]+/.test(v) ||
    /^http:\/\/(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(\/|$)/.test(v),
  { message: 'must be the https:// URL of an OpenID issuer (http:// only on localhost)' },
);

/** Asymmetric signature algorithms a token may use: never `none`, never HS* (a public key is no secret). */
const JWT_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
] as const;
type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

const algorithmList = z
  .string()
  .optional()
  .transform((v, ctx) => {
    const names = (v ?? '')
      .split(',')
      .map((a) => a.trim())
      .filter(Boolean);
    if (names.length === 0) return ['RS256', 'ES256'] as JwtAlgorithm[];
    const unknown = names.filter((a) => !(JWT_ALGORITHMS as readonly string[]).includes(a));
    if (unknown.length > 0) {
      ctx.addIssue({
        code: 'custom',
        message: `must be a comma-separated list of ${JWT_ALGORITHMS.join(', ')}; not allowed: ${unknown.join(', ')}`,
      });
      return z.NEVER;
    }
    return names as JwtAlgorithm[];
  });

const postgresUrl = optionalText.refine((v) => v === undefined || /^postgres(ql)?:\/\//.test(v), {
  message: 'must be a postgres:// or postgresql:// URL',
});

/** The raw settings as they appear in app settings / local.settings.json / the environment. */
export const settingsSchema = z.object({
  // Database
  DATABASE_URL: postgresUrl,
  DATABASE_AUTH: z.enum(['password', 'entra']).default('password'),
  DATABASE_POOL_MAX: int(10, 1, 200),
  DATABASE_TIMEOUT_MS: int(5000, 100, 60000),
  // Group commit of order intake: orders that queue while intake's connections are busy share one transaction
  // (at most this many); 1 writes every order in a transaction of its own
  INTAKE_BATCH_MAX: int(64, 1, 256),
  EMBEDDED_DATA_DIR: optionalText,
  // Identity (user-assigned managed identity in Azure; unset locally)
  AZURE_CLIENT_ID: optionalText,
  // Messaging: connection string, or identity-based namespace (the same names the Service Bus trigger reads)
  ServiceBusConnection: optionalText,
  ServiceBusConnection__fullyQualifiedNamespace: optionalText,
  MAX_DELIVERY_COUNT: int(10, 1, 100),
  LOCAL_DELIVERY_COPIES: int(1, 1, 10),
  PUBLISH_TIMEOUT_MS: int(3000, 50, 60000),
  OUTBOX_RELAY_INTERVAL_MS: int(1000, 50, 600000),
  OUTBOX_RETENTION_HOURS: int(72, 1, 24 * 90),
  // Delayed retries of a consumer failure classed as transient (database unreachable, breaker open, timeout)
  DELAYED_RETRY_ROUNDS: int(8, 0, 50),
  DELAYED_RETRY_BASE_MS: int(5000, 10, 3_600_000),
  DELAYED_RETRY_MAX_MS: int(300_000, 10, 24 * 3_600_000),
  // Retention of what grows with traffic (pruned by the relay timers' housekeeping)
  PROCESSED_MESSAGE_RETENTION_HOURS: int(168, 1, 24 * 365),
  DEAD_LETTER_RETENTION_DAYS: int(30, 1, 3650),
  ORDER_HISTORY_RETENTION_DAYS: int(365, 1, 3650),
  // Idempotency
  IDEMPOTENCY_TTL_HOURS: int(24, 1, 24 * 30),
  // Pending-order sweeper: an order pending this long has its OrderPlaced re-sent. The default stays above
  // Service Bus duplicate detection (PT10M), which would drop a re-send with the same message id sooner, and above
  // the ~15 min the default DELAYED_RETRY_* rounds can take (a sweep inside them starts a second retry chain).
  PENDING_ORDER_SWEEP_AFTER_SECONDS: int(1800, 1, 7 * 24 * 3600),
  // A cancel still requested this long has its OrderCancelled re-sent (Inventory then sends StockReleased again):
  // a clock of its own, shorter, since re-releasing is a no-op and the customer waits for the answer. On Service
  // Bus a re-send inside duplicate detection's window (PT10M) of the first one is dropped; the next one goes.
  CANCEL_SWEEP_AFTER_SECONDS: int(60, 1, 7 * 24 * 3600),
  // Monitoring
  APPLICATIONINSIGHTS_CONNECTION_STRING: optionalText,
  LATENCY_RED_THRESHOLD_MS: int(1000, 1, 600000),
  // Gremlin (delay in Inventory)
  FEATURE_GREMLIN: flag,
  GREMLIN_LATENCY_MS: int(3000, 0, 60000),
  GREMLIN_MODE: z.enum(['deterministic', 'random']).default('deterministic'),
  GREMLIN_EVERY_N: int(5, 1, 1000000),
  GREMLIN_PROBABILITY: probability(0.2),
  // Crash simulator ("Schrödinger's warehouse")
  FEATURE_CRASH_AFTER_COMMIT: flag,
  CRASH_TARGET: z.enum(['inventory', 'orders', 'both']).default('both'),
  CRASH_MODE: z.enum(['deterministic', 'random']).default('deterministic'),
  CRASH_EVERY_N: int(3, 1, 1000000),
  CRASH_PROBABILITY: probability(0.2),
  // Daily logical backup (shared/backup): a container URL (managed identity) or, locally, a connection string
  BACKUP_CONTAINER_URL: httpUrl,
  BACKUP_CONNECTION_STRING: optionalText,
  BACKUP_CONTAINER: z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? 'backups' : v.trim()))
    .refine((v) => /^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(v), {
      message: 'must be a blob container name: 3-63 lowercase letters, digits and single hyphens',
    }),
  // Customers who sign in (issue 28): none (anonymous, today's behaviour) | appservice (App Service
  // authentication's X-MS-CLIENT-PRINCIPAL) | jwt (a bearer token the app verifies against the issuer's keys)
  CUSTOMER_AUTH: z.enum(['none', 'appservice', 'jwt']).default('none'),
  JWT_ISSUER: issuerUrl,
  /** Comma-separated: the API's application id URI and/or client id (Entra access tokens carry either). */
  JWT_AUDIENCE: optionalText,
  JWT_ALGORITHMS: algorithmList,
  JWT_CLOCK_SKEW_SECONDS: int(60, 0, 300),
  /** The claim that names the customer: `sub` (any OIDC issuer) or `oid` (Entra's object id, the same in every app). */
  JWT_SUBJECT_CLAIM: z.enum(['sub', 'oid']).default('sub'),
  // Local host
  PORT: int(7071, 0, 65535),
  /** The key function-level routes need on the local host (Azure has its own function keys); absent → generated. */
  LOCAL_FUNCTION_KEY: optionalText.refine((v) => v === undefined || /^[\x21-\x7e]{16,128}$/.test(v), {
    message: 'must be 16 to 128 printable ASCII characters without spaces',
  }),
});

export type ParsedSettings = z.output<typeof settingsSchema>;

/** Names of every setting the code reads (the Bicep consistency test compares against this list). */
export const SETTING_NAMES = Object.keys(settingsSchema.shape) as (keyof ParsedSettings)[];

export class SettingsError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid settings:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'SettingsError';
  }
}

export interface Settings {
  database: {
    url: string | undefined;
    auth: 'password' | 'entra';
    poolMax: number;
    timeoutMs: number;
    embeddedDataDir: string | undefined;
    /** Most orders one intake transaction may hold (group commit); 1: one transaction per order. */
    intakeBatchMax: number;
  };
  azureClientId: string | undefined;
  serviceBus:
    | { kind: 'in-process'; deliveryCopies: number }
    | { kind: 'connection-string'; connectionString: string }
    | { kind: 'identity'; fullyQualifiedNamespace: string; clientId: string | undefined };
  maxDeliveryCount: number;
  publishTimeoutMs: number;
  outbox: { relayIntervalMs: number; retentionHours: number };
  /** Re-sends of a transiently failed message, scheduled later: round n waits min(maxMs, baseMs × 2^(n−1)). */
  delayedRetry: { rounds: number; baseMs: number; maxMs: number };
  retention: { processedMessageHours: number; deadLetterDays: number; orderHistoryDays: number };
  idempotencyTtlHours: number;
  /** Seconds an order may stay pending before the sweeper re-sends its OrderPlaced. */
  pendingOrderSweepAfterSeconds: number;
  /** Seconds a cancel may stay requested before the sweeper re-sends its OrderCancelled. */
  cancelSweepAfterSeconds: number;
  appInsightsConnectionString: string | undefined;
  latencyRedThresholdMs: number;
  gremlin: {
    enabled: boolean;
    latencyMs: number;
    mode: 'deterministic' | 'random';
    everyN: number;
    probability: number;
  };
  crash: {
    enabled: boolean;
    target: 'inventory' | 'orders' | 'both';
    mode: 'deterministic' | 'random';
    everyN: number;
    probability: number;
  };
  /** Where the daily logical export goes; `off` when neither BACKUP_* destination is set. */
  backup:
    | { kind: 'off' }
    | { kind: 'connection-string'; connectionString: string; containerName: string }
    | { kind: 'identity'; containerUrl: string; clientId: string | undefined };
  /** Who the customer is: nobody in particular, App Service's principal, or a verified bearer token's subject. */
  customerAuth:
    | { mode: 'none' }
    | { mode: 'appservice' }
    | {
        mode: 'jwt';
        issuer: string;
        audience: string[];
        algorithms: JwtAlgorithm[];
        clockSkewSeconds: number;
        subjectClaim: 'sub' | 'oid';
      };
  port: number;
  /** The local host's function key, when set (else it generates one at start-up). */
  localFunctionKey: string | undefined;
}

/** Parses settings from an environment-like record; throws SettingsError naming every bad setting. */
export function loadSettings(env: Record<string, string | undefined> = process.env): Settings {
  const picked: Record<string, string | undefined> = {};
  for (const name of SETTING_NAMES) picked[name] = env[name];
  const result = settingsSchema.safeParse(picked);
  if (!result.success) {
    throw new SettingsError(
      result.error.issues.map((i) => `${i.path.join('.') || '(settings)'}: ${i.message}`),
    );
  }
  const s = result.data;
  if (s.DATABASE_AUTH === 'entra' && !s.DATABASE_URL) {
    throw new SettingsError(['DATABASE_URL: required when DATABASE_AUTH=entra']);
  }
  if (s.ServiceBusConnection && s.ServiceBusConnection__fullyQualifiedNamespace) {
    throw new SettingsError([
      'ServiceBusConnection: set either ServiceBusConnection (connection string) or ServiceBusConnection__fullyQualifiedNamespace (managed identity), not both',
    ]);
  }
  if (s.DELAYED_RETRY_MAX_MS < s.DELAYED_RETRY_BASE_MS) {
    throw new SettingsError([
      `DELAYED_RETRY_MAX_MS: must be at least DELAYED_RETRY_BASE_MS (${s.DELAYED_RETRY_BASE_MS}), got ${s.DELAYED_RETRY_MAX_MS}`,
    ]);
  }
  const customerAuth = customerAuthOf(s, env);
  const delayedRetry = {
    rounds: s.DELAYED_RETRY_ROUNDS,
    baseMs: s.DELAYED_RETRY_BASE_MS,
    maxMs: s.DELAYED_RETRY_MAX_MS,
  };
  // A processed-message record is what makes a late copy a no-op: it must outlive the last delayed retry.
  const retrySpanHours = delayedRetrySpanMs(delayedRetry) / 3_600_000;
  if (s.PROCESSED_MESSAGE_RETENTION_HOURS <= retrySpanHours) {
    throw new SettingsError([
      `PROCESSED_MESSAGE_RETENTION_HOURS: must exceed the ${retrySpanHours.toFixed(1)} h the DELAYED_RETRY_* settings let a message come back after, got ${s.PROCESSED_MESSAGE_RETENTION_HOURS}`,
    ]);
  }
  return {
    database: {
      url: s.DATABASE_URL,
      auth: s.DATABASE_AUTH,
      poolMax: s.DATABASE_POOL_MAX,
      timeoutMs: s.DATABASE_TIMEOUT_MS,
      embeddedDataDir: s.EMBEDDED_DATA_DIR,
      intakeBatchMax: s.INTAKE_BATCH_MAX,
    },
    azureClientId: s.AZURE_CLIENT_ID,
    serviceBus: s.ServiceBusConnection
      ? { kind: 'connection-string', connectionString: s.ServiceBusConnection }
      : s.ServiceBusConnection__fullyQualifiedNamespace
        ? {
            kind: 'identity',
            fullyQualifiedNamespace: s.ServiceBusConnection__fullyQualifiedNamespace,
            clientId: s.AZURE_CLIENT_ID,
          }
        : { kind: 'in-process', deliveryCopies: s.LOCAL_DELIVERY_COPIES },
    maxDeliveryCount: s.MAX_DELIVERY_COUNT,
    publishTimeoutMs: s.PUBLISH_TIMEOUT_MS,
    outbox: { relayIntervalMs: s.OUTBOX_RELAY_INTERVAL_MS, retentionHours: s.OUTBOX_RETENTION_HOURS },
    delayedRetry,
    retention: {
      processedMessageHours: s.PROCESSED_MESSAGE_RETENTION_HOURS,
      deadLetterDays: s.DEAD_LETTER_RETENTION_DAYS,
      orderHistoryDays: s.ORDER_HISTORY_RETENTION_DAYS,
    },
    idempotencyTtlHours: s.IDEMPOTENCY_TTL_HOURS,
    pendingOrderSweepAfterSeconds: s.PENDING_ORDER_SWEEP_AFTER_SECONDS,
    cancelSweepAfterSeconds: s.CANCEL_SWEEP_AFTER_SECONDS,
    appInsightsConnectionString: s.APPLICATIONINSIGHTS_CONNECTION_STRING,
    latencyRedThresholdMs: s.LATENCY_RED_THRESHOLD_MS,
    gremlin: {
      enabled: s.FEATURE_GREMLIN,
      latencyMs: s.GREMLIN_LATENCY_MS,
      mode: s.GREMLIN_MODE,
      everyN: s.GREMLIN_EVERY_N,
      probability: s.GREMLIN_PROBABILITY,
    },
    crash: {
      enabled: s.FEATURE_CRASH_AFTER_COMMIT,
      target: s.CRASH_TARGET,
      mode: s.CRASH_MODE,
      everyN: s.CRASH_EVERY_N,
      probability: s.CRASH_PROBABILITY,
    },
    backup: s.BACKUP_CONNECTION_STRING
      ? {
          kind: 'connection-string',
          connectionString: s.BACKUP_CONNECTION_STRING,
          containerName: s.BACKUP_CONTAINER,
        }
      : s.BACKUP_CONTAINER_URL
        ? { kind: 'identity', containerUrl: s.BACKUP_CONTAINER_URL, clientId: s.AZURE_CLIENT_ID }
        : { kind: 'off' },
    customerAuth,
    port: s.PORT,
    localFunctionKey: s.LOCAL_FUNCTION_KEY,
  };
}

/**
 * The customer-auth mode, checked against what it depends on. X-MS-CLIENT-PRINCIPAL can be trusted only where
 * App Service authentication strips a client's own copy and sets it; the platform says it is on with
 * WEBSITE_AUTH_ENABLED=True. Anywhere else, anyone could send the header, so `appservice` refuses to start.
 */
function customerAuthOf(
  s: ParsedSettings,
  env: Record<string, string | undefined>,
): Settings['customerAuth'] {
  switch (s.CUSTOMER_AUTH) {
    case 'none':
      return { mode: 'none' };
    case 'appservice':
      if (env.WEBSITE_AUTH_ENABLED?.trim().toLowerCase() !== 'true') {
        throw new SettingsError([
          'CUSTOMER_AUTH: appservice needs App Service authentication in front of the app (WEBSITE_AUTH_ENABLED=True, set by the platform when it is on); without it anyone can send X-MS-CLIENT-PRINCIPAL. Turn authentication on (bicep: customerAuth=appservice), or use CUSTOMER_AUTH=jwt or none',
        ]);
      }
      return { mode: 'appservice' };
    case 'jwt': {
      const problems: string[] = [];
      if (!s.JWT_ISSUER)
        problems.push(
          'JWT_ISSUER: required when CUSTOMER_AUTH=jwt (the token issuer, e.g. https://login.microsoftonline.com/<tenant>/v2.0)',
        );
      const audience = (s.JWT_AUDIENCE ?? '')
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean);
      if (audience.length === 0)
        problems.push(
          "JWT_AUDIENCE: required when CUSTOMER_AUTH=jwt (the API's application id URI or client id)",
        );
      if (problems.length > 0 || !s.JWT_ISSUER) throw new SettingsError(problems);
      return {
        mode: 'jwt',
        issuer: s.JWT_ISSUER,
        audience,
        algorithms: s.JWT_ALGORITHMS,
        clockSkewSeconds: s.JWT_CLOCK_SKEW_SECONDS,
        subjectClaim: s.JWT_SUBJECT_CLAIM,
      };
    }
  }
}

/** For command-line entry points (`npm run dev`, migrate, backup, restore): a bad setting prints what is wrong, exit 2. */
export function loadSettingsOrExit(env: Record<string, string | undefined> = process.env): Settings {
  try {
    return loadSettings(env);
  } catch (err) {
    if (!(err instanceof SettingsError)) throw err;
    console.error(err.message);
    process.exit(2);
  }
}
