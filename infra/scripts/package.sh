#!/usr/bin/env bash
# Builds the Azure deployment package: only what runs in Azure (the compiled functions and shared code, the UI's
# static files, host.json, production dependencies installed clean from the lock file), zipped for Flex Consumption.
# No infra/ (local host, scripts, migrations: those run from a checkout), no tools/ (bench, chaos), no tests, no
# embedded database.
#
#   npm run package      # -> artifacts/deploy/valerix-functions.zip (and the unpacked tree beside it)
#
# deploy.sh and `azd deploy` (azure.yaml) both use it; CI runs it on every change.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
ARTIFACTS="$ROOT/artifacts/deploy"
PACKAGE_DIR="$ARTIFACTS/package"
PACKAGE_ZIP="$ARTIFACTS/valerix-functions.zip"

die() {
  printf 'package: %s\n' "$*" >&2
  exit 1
}

[[ -d node_modules ]] || die "node_modules is missing: run \`npm ci\` first"
npm run build --silent
# tools/ (bench, chaos) runs from the sources with tsx; the app build must not pull any of it in.
[[ ! -e dist/tools ]] || die "dist/tools exists: the app build must not compile tools/ (an import from functions, shared or infra?)"

rm -rf "$PACKAGE_DIR" "$PACKAGE_ZIP"
mkdir -p "$PACKAGE_DIR/dist" "$PACKAGE_DIR/functions/platform"
cp -R dist/functions dist/shared "$PACKAGE_DIR/dist/"
cp host.json package.json package-lock.json "$PACKAGE_DIR/"
# Static assets of GET /api/ui, read from the project root at run time.
cp -R functions/platform/ui "$PACKAGE_DIR/functions/platform/"
find "$PACKAGE_DIR" \( -name '*.map' -o -name '*.ts' \) ! -name '*.d.ts' -delete
find "$PACKAGE_DIR/dist" -name '*.d.ts' -delete
# Tools that zip this folder (azd) must not apply the project's .funcignore to it: everything here is deployed.
printf '# Everything in this folder is the deployment package (built by npm run package).\n' >"$PACKAGE_DIR/.funcignore"

# Production dependencies only, exactly as locked. No install scripts: nothing we ship needs one.
(cd "$PACKAGE_DIR" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
# Type declarations and source maps of dependencies are never read at run time.
find "$PACKAGE_DIR/node_modules" -type f \( -name '*.map' -o -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' \) -delete

# What must not be there: development tooling and the embedded database.
for forbidden in dist/infra dist/tools infra tools test node_modules/@electric-sql node_modules/vitest node_modules/typescript \
  node_modules/azurite node_modules/playwright-core node_modules/autocannon node_modules/tsx; do
  [[ ! -e "$PACKAGE_DIR/$forbidden" ]] || die "$forbidden is in the package; it must not be deployed"
done

# Every function's code loads from the package alone (catches a runtime import of a dev dependency).
(cd "$PACKAGE_DIR" && DATABASE_URL=postgres://check@127.0.0.1:1/check ServiceBusConnection__fullyQualifiedNamespace=check.servicebus.windows.net \
  node --input-type=module -e '
    const { FUNCTIONS } = await import("./dist/functions/function-table.js");
    await import("./dist/functions/index.js");
    for (const spec of FUNCTIONS) await spec.load();
    console.log(`package: ${FUNCTIONS.length} functions load from the package alone`);
  ' 2>&1 | grep -v 'WARNING: Skipping call to register function' || true) | tee "$ARTIFACTS/load-check.log"
grep -q 'load from the package alone' "$ARTIFACTS/load-check.log" || die "the packaged functions do not load (see above)"

if command -v zip >/dev/null; then
  (cd "$PACKAGE_DIR" && zip -qr -X "$PACKAGE_ZIP" .)
else
  python3 -c 'import shutil, sys; shutil.make_archive(sys.argv[1][:-4], "zip", sys.argv[2])' "$PACKAGE_ZIP" "$PACKAGE_DIR"
fi
echo "package: $PACKAGE_ZIP ($(du -h "$PACKAGE_ZIP" | cut -f1) zipped, $(du -sh "$PACKAGE_DIR" | cut -f1) unpacked)"
