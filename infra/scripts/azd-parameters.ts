import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * bicep/main.parameters.json follows azd's conventions: `"${AZURE_ENV_NAME}"`, `"${AZURE_LOCATION}"`,
 * `"${AZURE_PRINCIPAL_ID}"` and `"${NAME=default}"` are filled in from the environment when azd provisions. The Azure
 * CLI does not do that, so deploy.sh renders the file with this first (and the template test reads it the same way).
 * A value that is a whole placeholder and comes out as a number or a boolean is written as one, as azd does for the
 * template's int and bool parameters.
 */
const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?:=([^}]*))?\}/g;
const WHOLE_PLACEHOLDER = /"(\$\{[A-Za-z_][A-Za-z0-9_]*(?:=[^}]*)?\})"/g;

export function renderAzdParameters(text: string, env: Record<string, string | undefined>): string {
  const fill = (placeholder: string) =>
    placeholder.replace(PLACEHOLDER, (_, name: string, fallback: string | undefined) => {
      const value = env[name];
      return value !== undefined && value !== '' ? value : (fallback ?? '');
    });
  return text.replace(WHOLE_PLACEHOLDER, (_, placeholder: string) => {
    const value = fill(placeholder);
    return /^(-?\d+|true|false)$/.test(value) ? value : JSON.stringify(value);
  });
}

// `node --import tsx infra/scripts/azd-parameters.ts <in> <out>` (deploy.sh).
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [input, output] = process.argv.slice(2);
  if (!input || !output) {
    console.error('usage: azd-parameters.ts <main.parameters.json> <rendered.json>');
    process.exit(2);
  }
  writeFileSync(output, renderAzdParameters(readFileSync(input, 'utf8'), process.env));
}
