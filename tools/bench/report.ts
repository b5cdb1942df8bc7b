import type { BenchResult, ScenarioResult, Target } from './run-bench.js';

const COLUMNS = [
  'scenario',
  'conns',
  'orders/s',
  'p50 ms',
  'p90 ms',
  'p99 ms',
  'max ms',
  'non2xx',
  'errors',
  'e2e p50',
  'e2e p99',
  'drain/s',
  'pending end',
  'backlog/s',
  'cpu s/1k',
] as const;

const fmt = (v: number | null | undefined, digits = 1): string =>
  v === null || v === undefined ? '—' : v.toFixed(digits);

function row(s: ScenarioResult): string[] {
  return [
    s.name,
    String(s.connections),
    fmt(s.http.acceptedOrdersPerS, 0),
    fmt(s.http.latencyMs.p50, 2),
    fmt(s.http.latencyMs.p90, 2),
    fmt(s.http.latencyMs.p99, 2),
    fmt(s.http.latencyMs.max, 0),
    String(s.http.non2xx),
    String(s.http.errors),
    fmt(s.endToEnd.p50Ms, 0),
    fmt(s.endToEnd.p99Ms, 0),
    fmt(s.inventory.drainRatePerS, 0),
    String(s.inventory.pendingAtEnd),
    fmt(s.inventory.backlogSlopePerS, 0),
    fmt(s.hostCpu.cpuSecondsPer1000Orders, 3),
  ];
}

const FINISHED_COLUMNS = [
  'scenario',
  'conns',
  'asked/s',
  'finished/s',
  'not final',
  'p50 ms',
  'p99 ms',
  'host ms',
  'pg ms',
  'loadgen ms',
  'machine ms',
  'stmts',
  'stmt ms',
  'xacts',
  'WAL B',
  'backlog/s',
] as const;

/** The finished-order runs: per finished order, CPU by process and database work. */
function finishedRow(s: ScenarioResult): string[] {
  const f = s.finished;
  return [
    s.name,
    String(s.connections),
    fmt(s.targetRatePerS, 0),
    fmt(f?.finishedOrdersPerS, 0),
    String(f?.notFinished ?? '—'),
    fmt(s.http.latencyMs.p50, 2),
    fmt(s.http.latencyMs.p99, 2),
    fmt(f?.cpuMsPerFinishedOrder.host, 3),
    fmt(f?.cpuMsPerFinishedOrder.postgres, 3),
    fmt(f?.cpuMsPerFinishedOrder.loadGenerator, 3),
    fmt(f?.cpuMsPerFinishedOrder.machine, 3),
    fmt(f?.database.statementsPerOrder, 1),
    fmt(f?.database.statementMsPerOrder, 3),
    fmt(f?.database.transactionsPerOrder, 1),
    fmt(f?.database.walBytesPerOrder, 0),
    fmt(s.inventory.backlogSlopePerS, 0),
  ];
}

/** A Markdown table (readable on a terminal, pastes into the README as is). */
function markdownTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) =>
    `| ${r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `${'-'.repeat(w + 1)}-` : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(rows[0]!), rule, ...rows.slice(1).map(line)].join('\n');
}

/**
 * What a user reproduces (docs/performance.md): a closed loop of C connections, each POST a new order with a fresh
 * Idempotency-Key and `Prefer: wait=10`, only answers that came back shipped counted, the load generator on the
 * same machine.
 */
function headline(closedLoop: readonly ScenarioResult[]): string[] {
  if (closedLoop.length === 0) return [];
  const parts = closedLoop.map((s) => {
    const f = s.finished;
    return `${s.connections} conns ${fmt(f?.finishedOrdersPerS, 0)}/s (p99 ${fmt(s.http.latencyMs.p99, 0)} ms, machine ${fmt(f?.cpuMsPerFinishedOrder.machine, 2)} ms/order)`;
  });
  return ['', `Headline — finished orders per second, closed loop: ${parts.join('; ')}`];
}

const verdict = (t: Target) => (t.met === null ? 'not measured' : t.met ? 'met' : 'MISSED');

export function formatReport(result: BenchResult): string {
  const m = result.machine;
  const g = result.gremlin;
  const sus = result.sustained;
  const intake = [...result.scenarios, sus, g?.off, g?.on].filter((s): s is ScenarioResult => Boolean(s));
  const finished = [...result.finished.scenarios, result.finished.sustained].filter(
    (s): s is ScenarioResult => Boolean(s),
  );
  const cs = result.coldStart;
  const lines = [
    `Valerix bench — ${result.startedAt} — ${m.cpuModel}, ${m.cores} cores, ${m.totalMemoryGb} GB, ${m.os}`,
    `Node ${m.nodeVersion}; PostgreSQL ${m.postgresSettings.server_version ?? m.postgresVersion} (synchronous_commit=${m.postgresSettings.synchronous_commit}, shared_buffers=${m.postgresSettings.shared_buffers}); host pool max ${result.host.poolMax}; ${result.options.durationS} s per run; load average at start ${m.loadAverageAtStart.join(' / ')}`,
    ...headline(result.finished.scenarios),
  ];
  if (intake.length > 0) {
    lines.push(
      '',
      markdownTable([[...COLUMNS], ...intake.map(row)]),
      '',
      'orders/s = 202 Accepted per second; latency = HTTP response time; e2e = acceptance → final status (ms);',
      'drain/s = orders reaching a final status per second during the run; backlog/s = slope of the pending count',
      'during the run; cpu s/1k = CPU seconds of the local host process per 1000 accepted orders, counted until the',
      'run’s backlog drained.',
    );
  }
  if (finished.length > 0) {
    lines.push(
      '',
      markdownTable([[...FINISHED_COLUMNS], ...finished.map(finishedRow)]),
      '',
      'Finished orders: every request places a new order with `Prefer: wait=10`; only 201 answers with the order',
      'shipped count. host/pg/loadgen ms = CPU ms per finished order of the local host, the PostgreSQL backends and',
      'autocannon; machine ms = busy CPU of the whole machine (every process and the kernel) per finished order; stmts/xacts/WAL B = statements (pg_stat_statements), commits and WAL bytes per finished order;',
      'stmt ms = execution time of those statements per finished order (pg_stat_statements total_exec_time).',
    );
    const busiest = finished.reduce((a, b) =>
      (b.finished?.finishedOrdersPerS ?? 0) > (a.finished?.finishedOrdersPerS ?? 0) ? b : a,
    );
    const top = busiest.finished?.database.topStatements.slice(0, 6) ?? [];
    if (top.length > 0) {
      lines.push(
        '',
        `Statements by execution time per finished order (${busiest.name}):`,
        '',
        markdownTable([
          ['exec ms', 'calls', 'statement'],
          ...top.map((t) => [
            fmt(t.execMsPerOrder, 3),
            fmt(t.callsPerOrder, 2),
            `\`${t.query.slice(0, 90).replaceAll('|', '\\|')}\``,
          ]),
        ]),
      );
    }
  }
  lines.push('');
  if (g) {
    lines.push(
      `Gremlin (every ${g.everyN}th reservation +${g.latencyMs} ms) at ${g.connections} connections: p99 off ${fmt(g.p99OffMs, 2)} ms, on ${fmt(g.p99OnMs, 2)} ms, ratio ${fmt(g.p99Ratio, 2)}`,
    );
  }
  if (sus) {
    lines.push(
      `Sustained ${Math.round(sus.fractionOfBestRate * 100)} %: ${fmt(sus.targetRatePerS, 0)} orders/s asked, ${fmt(sus.http.acceptedOrdersPerS, 0)} accepted, drain ${fmt(sus.inventory.drainRatePerS, 0)}/s, backlog slope ${fmt(sus.inventory.backlogSlopePerS, 1)}/s, keeps up: ${sus.inventory.keepsUp ? 'yes' : 'no'}`,
    );
  }
  lines.push(
    cs.skipped
      ? `Cold start: skipped (${cs.skipped})`
      : `Cold start (median of ${cs.runs} fresh processes): entry ${fmt(cs.entryMedianMs)} ms vs bare @azure/functions app ${fmt(cs.bareMedianMs)} ms, ratio ${fmt(cs.ratio, 2)} (import alone: ${fmt(cs.entryImportMedianMs)} vs ${fmt(cs.bareImportMedianMs)} ms); deferred to the first createOrder invocation: ${fmt(cs.entryFirstUseMedianMs)} ms`,
    restartLine(result.restart),
    '',
    'Targets:',
    ...Object.values(result.targets).map(
      (t) => `  ${verdict(t).padEnd(12)} ${t.description}: ${fmt(t.value, 3)} (target ${t.target})`,
    ),
  );
  if (result.outputFile) lines.push('', `JSON: ${result.outputFile}`);
  return lines.join('\n');
}

/** The database restart suite: how long after the server is back the first order is accepted (issue 29's ≤ 1 s). */
function restartLine(r: BenchResult['restart']): string {
  if (r.skipped || !r.recoveryMs) return `Database restart: skipped (${r.skipped ?? 'no result'})`;
  const cases = Object.entries(r.recoveryMs)
    .map(([name, ms]) => `${name} ${fmt(ms, 0)} ms`)
    .join(', ');
  return `Database restart, first order accepted after the server accepts connections again (target ≤ 1000 ms): ${cases}; ${r.acceptedOrders} orders accepted by 4 retrying clients, answers ${JSON.stringify(r.answers)}`;
}
