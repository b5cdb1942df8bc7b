import type { FunctionSpec } from '../definitions.js';

/** What serves both services: health, chaos flags, live stats, the UI page and the daily backup. */
export const platformFunctions: FunctionSpec[] = [
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
    kind: 'timer',
    name: 'dailyBackup',
    // Once a day at 02:30 UTC (NCRONTAB, seconds first). Fixed in code: "one call per day" is the contract.
    schedule: '0 30 2 * * *',
    localIntervalMs: () => 24 * 3600 * 1000,
    load: async () => (await import('./backup-timer.js')).dailyBackupHandler,
  },
];
