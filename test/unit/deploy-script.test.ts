import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PROJECT_ROOT } from '../../shared/db/project-root.js';

/**
 * infra/scripts/deploy.sh run for real, with `az`, `azd`, `npm` and `curl` replaced by stubs on PATH that record
 * every call (and what `az deployment group create` was given): the order of the steps and what they pass is what
 * Azure's documentation asks for, and none of it can run against Azure here.
 */

const dir = mkdtempSync(join(tmpdir(), 'valerix-deploy-sh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const jwt = (claims: Record<string, unknown>) =>
  `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;
const DEPLOYER_OID = '22222222-3333-4444-5555-666666666666';
const ARM_TOKEN = jwt({ oid: DEPLOYER_OID, upn: 'dana@example.com' });
const PG_TOKEN = jwt({
  oid: DEPLOYER_OID,
  exp: 1_900_000_000,
  aud: 'https://ossrdbms-aad.database.windows.net',
});

const STUBS = {
  az: `#!/usr/bin/env bash
printf 'az %s\\n' "$*" >> "$STUB_LOG"
case "$*" in
  "account show --only-show-errors") [[ "\${AZ_LOGGED_OUT:-}" == 1 ]] && exit 1; exit 0 ;;
  *"account show --query user.type"*) echo user ;;
  *"account show --query name"*) echo "Test subscription" ;;
  *"account show --query id"*) echo 00000000-0000-0000-0000-00000000000a ;;
  *"get-access-token --resource-type oss-rdbms"*) echo "$PG_TOKEN" ;;
  *"get-access-token"*) echo "$ARM_TOKEN" ;;
  *"provider show"*) echo "\${MICROSOFT_APP_STATE:-NotRegistered}" ;;
  *"group exists"*) echo true ;;
  *"postgres flexible-server list"*) echo "\${PG_STORAGE_SIZE:-}" ;;
  *"deployment group create"*)
    for a in "$@"; do [[ "$a" == @* ]] && cp "\${a#@}" "$STUB_DIR/parameters.json"; done ;;
  *"deployment group show"*)
    for a in "$@"; do [[ "$a" == properties.outputs.* ]] && { n="\${a#properties.outputs.}"; echo "out-\${n%.value}"; }; done ;;
esac
exit 0
`,
  azd: `#!/usr/bin/env bash
printf 'azd %s\\n' "$*" >> "$STUB_LOG"
`,
  npm: `#!/usr/bin/env bash
printf 'npm %s PGPASSWORD=%s\\n' "$*" "\${PGPASSWORD:-}" >> "$STUB_LOG"
`,
  curl: `#!/usr/bin/env bash
printf 'curl %s\\n' "$*" >> "$STUB_LOG"
[[ "$*" == *ipify* ]] && echo 203.0.113.7
exit 0
`,
};

let run = 0;
function deploySh(args: string[], env: Record<string, string> = {}) {
  const stubDir = join(dir, `run-${run++}`);
  const bin = join(stubDir, 'bin');
  spawnSync('mkdir', ['-p', bin]);
  for (const [name, body] of Object.entries(STUBS)) {
    writeFileSync(join(bin, name), body);
    chmodSync(join(bin, name), 0o755);
  }
  const log = join(stubDir, 'calls.log');
  writeFileSync(log, '');
  const result = spawnSync('bash', [join(PROJECT_ROOT, 'infra/scripts/deploy.sh'), ...args], {
    cwd: PROJECT_ROOT,
    env: {
      PATH: `${bin}:${process.env.PATH}`,
      HOME: stubDir,
      TMPDIR: stubDir,
      STUB_LOG: log,
      STUB_DIR: stubDir,
      ARM_TOKEN,
      PG_TOKEN,
      ...env,
    },
    encoding: 'utf8',
    timeout: 120_000,
  });
  const calls = readFileSync(log, 'utf8').trim().split('\n');
  const at = (pattern: RegExp) => calls.findIndex((c) => pattern.test(c));
  const parameters = () =>
    JSON.parse(readFileSync(join(stubDir, 'parameters.json'), 'utf8')) as {
      parameters: Record<string, { value: unknown }>;
    };
  return { ...result, calls, at, parameters };
}

describe('infra/scripts/deploy.sh (stubbed az)', () => {
  it('takes the PostgreSQL token before the Bicep deployment and migrates with it (GitHub OIDC logins expire in ~10 min)', () => {
    const r = deploySh([], { AZURE_RESOURCE_GROUP: 'rg-test' });
    expect(r.status, r.stderr).toBe(0);
    const token = r.at(/get-access-token --resource-type oss-rdbms/);
    const bicep = r.at(/^az deployment group create/);
    const migrate = r.at(/^npm run migrate/);
    expect(token).toBeGreaterThan(-1);
    expect(token).toBeLessThan(bicep);
    expect(bicep).toBeLessThan(migrate);
    expect(r.calls.filter((c) => /oss-rdbms/.test(c))).toHaveLength(1); // none after the long step
    expect(r.calls[migrate]).toContain(`PGPASSWORD=${PG_TOKEN}`);
  });

  it('migrates as the owning role and grants the app role (the identity, with its object id)', () => {
    const r = deploySh([], { AZURE_RESOURCE_GROUP: 'rg-test' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.calls[r.at(/^npm run migrate/)]).toContain(
      '--as-role valerix_owner --grant-to out-identityName --app-object-id out-identityPrincipalId',
    );
  });

  it('registers Microsoft.App (Flex virtual network integration) before provisioning, only when it is not registered', () => {
    const r = deploySh([], { AZURE_RESOURCE_GROUP: 'rg-test' });
    const register = r.at(/^az provider register --namespace Microsoft\.App/);
    expect(register).toBeGreaterThan(-1);
    expect(register).toBeLessThan(r.at(/^az deployment group create/));
    const registered = deploySh([], { AZURE_RESOURCE_GROUP: 'rg-test', MICROSOFT_APP_STATE: 'Registered' });
    expect(registered.status, registered.stderr).toBe(0);
    expect(registered.at(/provider register/)).toBe(-1);
  });

  it("fills in azd's placeholders for the Azure CLI, and asks for the server's current (autogrown) storage size", () => {
    const r = deploySh([], {
      AZURE_RESOURCE_GROUP: 'rg-test',
      AZURE_ENV_NAME: 'valerix-ci',
      AZURE_LOCATION: 'westeurope',
      PG_STORAGE_SIZE: '128',
    });
    expect(r.status, r.stderr).toBe(0);
    const p = r.parameters().parameters;
    expect(p.environmentName?.value).toBe('valerix-ci');
    expect(p.location?.value).toBe('westeurope');
    expect(p.deployerObjectId?.value).toBe(DEPLOYER_OID);
    expect(JSON.stringify(p)).not.toContain('${');
    expect(r.calls[r.at(/^az deployment group create/)]).toContain('postgresStorageSizeGB=128');
    const fresh = deploySh([], { AZURE_RESOURCE_GROUP: 'rg-test' });
    expect(fresh.calls[fresh.at(/^az deployment group create/)]).not.toContain('postgresStorageSizeGB=');
    expect(fresh.parameters().parameters.postgresStorageSizeGB?.value).toBe(32);
  });

  it("azd's preprovision hook registers the provider and hands azd the current storage size", () => {
    const r = deploySh(['--preprovision'], { PG_STORAGE_SIZE: '256', AZURE_ENV_NAME: 'valerix' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.at(/^az provider register --namespace Microsoft\.App/)).toBeGreaterThan(-1);
    expect(r.calls).toContain('azd env set POSTGRES_STORAGE_SIZE_GB 256');
    expect(r.at(/deployment group create|^npm /)).toBe(-1);
  });

  it('an azd hook without `az login` stops at once with one line that says what to do', () => {
    const r = deploySh(['--migrate-only'], { AZ_LOGGED_OUT: '1' });
    expect(r.status).toBe(1);
    const errors = r.stderr.trim().split('\n');
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/az login.*azd up/);
    expect(r.at(/get-access-token|postgres|npm run migrate/)).toBe(-1);
  });
});
