import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The Bicep CLI this machine has, looked for in the order a user would expect: BICEP_CLI (a path), `bicep` on PATH,
 * `az bicep`, then the NuGet package `Azure.Bicep.CommandLine.linux-x64` restored by `.ci/run`
 * (`dotnet restore infra/bicep-cli`) in ~/.nuget/packages.
 */
export interface BicepCli {
  /** Which one was found, for the test log. */
  description: string;
  build(file: string): { json: string; diagnostics: string };
  /** SARIF results of `bicep lint` (every error, warning and info). */
  lint(file: string): SarifResult[];
}

export interface SarifResult {
  ruleId: string;
  level: string;
  message: { text: string };
  locations?: {
    physicalLocation?: { artifactLocation?: { uri?: string }; region?: { startLine?: number } };
  }[];
}

const works = (command: string, args: string[]) =>
  spawnSync(command, args, { encoding: 'utf8' }).status === 0;

function nugetBicep(): string | undefined {
  const root = join(
    process.env.NUGET_PACKAGES ?? join(homedir(), '.nuget', 'packages'),
    'azure.bicep.commandline.linux-x64',
  );
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root).sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
  for (const v of versions.reverse()) {
    const binary = join(root, v, 'tools', 'bicep');
    if (existsSync(binary)) return binary;
  }
  return undefined;
}

function cli(description: string, run: (args: string[]) => string[]): BicepCli {
  const exec = (args: string[]) => {
    const [command, ...rest] = run(args) as [string, ...string[]];
    const r = spawnSync(command, rest, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    if (r.error) throw r.error;
    return r;
  };
  return {
    description,
    build(file) {
      const out = join(mkdtempSync(join(tmpdir(), 'valerix-bicep-')), 'main.json');
      const r = exec(['build', file, '--outfile', out]);
      if (r.status !== 0) throw new Error(`bicep build failed:\n${r.stderr}${r.stdout}`);
      return { json: readFileSync(out, 'utf8'), diagnostics: `${r.stderr}`.trim() };
    },
    lint(file) {
      const r = exec(['lint', file, '--diagnostics-format', 'sarif']);
      const sarif = JSON.parse(r.stdout) as { runs: { results?: SarifResult[] }[] };
      return sarif.runs.flatMap((run) => run.results ?? []);
    },
  };
}

export function findBicepCli(): BicepCli | undefined {
  const explicit = process.env.BICEP_CLI;
  if (explicit) return cli(`BICEP_CLI=${explicit}`, (args) => [explicit, ...args]);
  if (works('bicep', ['--version'])) return cli('bicep on PATH', (args) => ['bicep', ...args]);
  if (works('az', ['bicep', 'version'])) {
    // az bicep takes --file for the input.
    return cli('az bicep', ([verb, file, ...rest]) => [
      'az',
      'bicep',
      verb as string,
      '--file',
      file as string,
      ...rest,
    ]);
  }
  const restored = nugetBicep();
  if (restored) {
    const version = execFileSync(restored, ['--version'], { encoding: 'utf8' }).trim();
    return cli(`NuGet Azure.Bicep.CommandLine.linux-x64 (${restored}, ${version})`, (args) => [
      restored,
      ...args,
    ]);
  }
  return undefined;
}
