import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { LocalLog } from '../../infra/local-host/invocation-context.js';
import { startLocalHost } from '../../infra/local-host/local-host.js';
import { loadSettings } from '../../shared/config/settings.js';
import type { HostReply, HostRequest } from './host-process.js';

/**
 * The local host as the bench runs it: its own process (so its CPU time is its own, not autocannon's), settings
 * from the environment the parent prepared, a free port, and a small IPC protocol for stats and shutdown.
 * Info logs are dropped (the Functions host would ship them off-process); warnings and errors are counted and
 * the first few kept, so a run that hit failures says so.
 */
if (!process.send) {
  console.error('host-child is started by the bench (child_process.fork); run `npm run bench` instead.');
  process.exit(2);
}

const logged = { warning: 0, error: 0, samples: [] as string[] };
const log: LocalLog = (level, functionName, message) => {
  if (level !== 'warning' && level !== 'error') return;
  logged[level]++;
  if (logged.samples.length < 10) logged.samples.push(`${level} ${functionName}: ${message}`.slice(0, 300));
};

const loopDelay = monitorEventLoopDelay({ resolution: 10 });
loopDelay.enable();

const settings = loadSettings(process.env);
const host = await startLocalHost({ settings, port: 0, log });
const send = (reply: HostReply) => process.send?.(reply);

let closing = false;
async function close(): Promise<void> {
  if (closing) return;
  closing = true;
  await host.close();
  send({ type: 'closed' });
  process.disconnect?.();
  process.exit(0);
}

process.on('message', (request: HostRequest) => {
  if (request.type === 'stats') {
    send({
      type: 'stats',
      id: request.id,
      cpu: process.cpuUsage(),
      rssBytes: process.memoryUsage().rss,
      eventLoopDelayP99Ms: loopDelay.percentile(99) / 1e6,
      queueInFlight: host.transport?.inFlight ?? 0,
      deadLetters: host.transport?.deadLetters.length ?? 0,
      warnings: logged.warning,
      errors: logged.error,
      logSamples: logged.samples,
    });
    if (request.resetLoopDelay) loopDelay.reset();
  } else if (request.type === 'close') {
    void close();
  }
});
// The parent went away (crashed or Ctrl+C): do not outlive it.
process.on('disconnect', () => void close());

send({ type: 'ready', url: host.url, pid: process.pid, poolMax: settings.database.poolMax });
