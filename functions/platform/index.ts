import type { FunctionSpec } from '../definitions.js';

/**
 * What serves both services: health, chaos flags, dead letters and their redrive, live stats, the UI page and the
 * daily backup. The OpenAPI document's route is in functions/function-table.ts, since it describes the whole table.
 */
export const platformFunctions: FunctionSpec[] = [
  {
    kind: 'http',
    name: 'me',
    route: 'me',
    methods: ['GET'],
    authLevel: 'anonymous',
    load: async () => (await import('./me.js')).meHandler,
  },
  {
    kind: 'http',
    name: 'health',
    route: 'health/{service?}',
    methods: ['GET'],
    authLevel: 'anonymous',
    load: async () => (await import('./health.js')).healthHandler,
  },
  {
    kind: 'http',
    name: 'healthDetails',
    // A literal segment outranks `health/{service?}` in both hosts' routing.
    route: 'health/details/{service?}',
    methods: ['GET'],
    authLevel: 'function',
    load: async () => (await import('./health.js')).healthDetailsHandler,
  },
  {
    kind: 'http',
    name: 'getChaos',
    route: 'chaos',
    methods: ['GET'],
    authLevel: 'function',
    load: async () => (await import('./chaos-api.js')).getChaosHandler,
  },
  {
    kind: 'http',
    name: 'putChaos',
    route: 'chaos',
    methods: ['PUT'],
    authLevel: 'function',
    load: async () => (await import('./chaos-api.js')).putChaosHandler,
  },
  {
    kind: 'http',
    name: 'listDeadLetters',
    route: 'dead-letters',
    methods: ['GET'],
    authLevel: 'function',
    load: async () => (await import('./dead-letters-api.js')).listDeadLettersHandler,
  },
  {
    kind: 'http',
    name: 'getDeadLetter',
    route: 'dead-letters/{id}',
    methods: ['GET'],
    authLevel: 'function',
    load: async () => (await import('./dead-letters-api.js')).getDeadLetterHandler,
  },
  {
    kind: 'http',
    name: 'redriveDeadLetter',
    route: 'dead-letters/{id}/redrive',
    methods: ['POST'],
    authLevel: 'function',
    load: async () => (await import('./dead-letters-api.js')).redriveDeadLetterHandler,
  },
  {
    kind: 'http',
    name: 'redriveDeadLetters',
    // A literal segment outranks `dead-letters/{id}` in both hosts' routing (and that one is GET only).
    route: 'dead-letters/redrive',
    methods: ['POST'],
    authLevel: 'function',
    load: async () => (await import('./dead-letters-api.js')).redriveDeadLettersHandler,
  },
  {
    kind: 'http',
    name: 'stats',
    route: 'stats',
    methods: ['GET'],
    authLevel: 'anonymous',
    load: async () => (await import('./stats.js')).statsHandler,
  },
  {
    kind: 'http',
    name: 'ui',
    route: 'ui',
    methods: ['GET'],
    authLevel: 'anonymous',
    load: async () => (await import('./ui.js')).uiHandler,
  },
  {
    kind: 'http',
    name: 'uiAsset',
    // The page's script and styles: files of their own, so its CSP needs no 'unsafe-inline'.
    route: 'ui/{asset}',
    methods: ['GET'],
    authLevel: 'anonymous',
    load: async () => (await import('./ui.js')).uiAssetHandler,
  },
  {
    kind: 'timer',
    name: 'dailyBackup',
    // Once a day at 02:30 UTC (NCRONTAB, seconds first). Fixed in code: "one call per day" is the contract.
    schedule: '0 30 2 * * *',
    localIntervalMs: () => 24 * 3600 * 1000,
    load: async () => (await import('./backup-timer.js')).dailyBackupHandler,
  },
];
