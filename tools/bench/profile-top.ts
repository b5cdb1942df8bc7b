import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';

/**
 * The functions with the most self time in V8 CPU profiles (`node --cpu-prof`, what `npm run bench --
 * --host-cpu-prof DIR` writes): `tsx tools/bench/profile-top.ts DIR/*.cpuprofile [--top 15]`.
 */
interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

interface SelfTime {
  name: string;
  where: string;
  selfMs: number;
  share: number;
}

function topSelfTime(profile: Profile, top = 10): SelfTime[] {
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<string, { name: string; where: string; us: number }>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byNode.get(id);
    const dt = profile.timeDeltas[i] ?? 0;
    if (!node) return;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = functionName || '(anonymous)';
    const file = url.startsWith('file://') ? relative(PROJECT_ROOT, new URL(url).pathname) : url;
    const where = file ? `${file}:${lineNumber + 1}` : '';
    const key = `${name} ${where}`;
    const entry = selfUs.get(key) ?? { name, where, us: 0 };
    entry.us += dt;
    selfUs.set(key, entry);
    total += dt;
  });
  // Idle time is the event loop waiting: not work, so not part of the shares.
  const busy = total - [...selfUs.values()].filter((e) => e.name === '(idle)').reduce((a, e) => a + e.us, 0);
  return [...selfUs.values()]
    .filter((e) => e.name !== '(idle)')
    .sort((a, b) => b.us - a.us)
    .slice(0, top)
    .map((e) => ({ name: e.name, where: e.where, selfMs: Math.round(e.us / 100) / 10, share: e.us / busy }));
}

const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const topArg = process.argv.indexOf('--top');
if (files.length > 0) {
  const top = topArg > 0 ? Number(process.argv[topArg + 1]) : 10;
  for (const file of files.filter((f) => f.endsWith('.cpuprofile'))) {
    console.log(`\n${file}`);
    console.log('| # | function | where | self ms | share of busy |');
    console.log('|--:|---|---|--:|--:|');
    topSelfTime(JSON.parse(readFileSync(file, 'utf8')) as Profile, top).forEach((e, i) => {
      console.log(
        `| ${i + 1} | \`${e.name}\` | ${e.where} | ${e.selfMs} | ${(e.share * 100).toFixed(1)} % |`,
      );
    });
  }
}
