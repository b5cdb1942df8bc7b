#!/usr/bin/env bash
# Deploys Valerix to Azure: infrastructure (Bicep), database migrations, the app package, then prints the URLs.
# Safe to run again: every step converges on the same state.
#
#   infra/scripts/deploy.sh              # deploy
#   infra/scripts/deploy.sh --what-if    # show what the Bicep deployment would change, change nothing
#   infra/scripts/deploy.sh --preprovision
#                                        # azd's preprovision hook (azure.yaml): register Microsoft.App and tell azd
#                                        # the current PostgreSQL storage size (POSTGRES_STORAGE_SIZE_GB)
#   infra/scripts/deploy.sh --migrate-only
#                                        # azd's postprovision hook (azure.yaml): make the deployer a PostgreSQL
#                                        # Entra administrator, run the migrations and grant the app role; reads the
#                                        # provisioned names from azd's environment (the Bicep outputs)
#
# azd's hooks use the Azure CLI too: `azd up` needs `az login` (same account) as well as `azd auth login`.
#
# Environment (all optional):
#   AZURE_RESOURCE_GROUP     resource group to deploy into               (default: rg-valerix)
#   AZURE_LOCATION           region for a new resource group and its resources (default: swedencentral)
#   AZURE_SUBSCRIPTION_ID    subscription to use                         (default: the current az account)
#   AZURE_ENV_NAME           short name used in resource names, as azd   (default: ENVIRONMENT_NAME, else valerix)
#   ALERT_EMAIL              address that receives alert emails          (default: none)
#   DEPLOYER_PRINCIPAL_NAME  PostgreSQL name of the deploying principal (default: your UPN, or the service
#                            principal's display name)
#
# Requires: Azure CLI 2.60+ (logged in: az login), Node.js 22 and npm, zip (or python3).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

WHAT_IF=0
MIGRATE_ONLY=0
PREPROVISION=0
for arg in "$@"; do
  case "$arg" in
    --what-if) WHAT_IF=1 ;;
    --migrate-only) MIGRATE_ONLY=1 ;;
    --preprovision) PREPROVISION=1 ;;
    -h | --help)
      sed -n '2,28p' "$0"
      exit 0
      ;;
    *)
      echo "Unknown argument: $arg (try --help)" >&2
      exit 2
      ;;
  esac
done

RESOURCE_GROUP="${AZURE_RESOURCE_GROUP:-rg-valerix}"
LOCATION="${AZURE_LOCATION:-swedencentral}"
ENV_NAME="${AZURE_ENV_NAME:-${ENVIRONMENT_NAME:-valerix}}"
DEPLOYMENT_NAME="valerix-main"
TEMPLATE="bicep/main.bicep"
PARAMETERS="bicep/main.parameters.json"
# The role that owns the app's tables; the migrations run as it (infra/scripts/database-roles.ts).
OWNER_ROLE="valerix_owner"

log() { printf '\n\033[1m==> %s\033[0m\n' "$*"; }
die() {
  printf '\033[31merror:\033[0m %s\n' "$*" >&2
  exit 1
}
# retry <attempts> <delay-seconds> <command...>: for steps that race Azure role propagation or a busy server.
retry() {
  local attempts=$1 delay=$2 n=1
  shift 2
  until "$@"; do
    if ((n >= attempts)); then return 1; fi
    echo "   attempt $n/$attempts failed; retrying in ${delay}s..." >&2
    sleep "$delay"
    n=$((n + 1))
  done
}
jwt_claim() { # jwt_claim <token> <claim>: prints a claim of a JWT's payload (no verification; our own token)
  node -e 'const p = JSON.parse(Buffer.from(process.argv[1].split(".")[1], "base64url").toString("utf8"));
           process.stdout.write(String(p[process.argv[2]] ?? ""));' "$1" "$2"
}
urlencode() { node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$1"; }

# ---------------------------------------------------------------------------------------------------------------
# First, before anything changes in Azure: a build that fails should fail here (CI runs the same `npm run package`).
if ((!MIGRATE_ONLY && !PREPROVISION && !WHAT_IF)); then
  log "Build and package"
  npm ci --no-audit --no-fund
  npm run package
fi
PACKAGE_ZIP="$ROOT/artifacts/deploy/valerix-functions.zip"

# ---------------------------------------------------------------------------------------------------------------
log "Checking tools and Azure login"
command -v az >/dev/null || die "Azure CLI not found: https://learn.microsoft.com/cli/azure/install-azure-cli"
command -v node >/dev/null || die "Node.js not found (Node 22 is the Azure runtime)"
command -v npm >/dev/null || die "npm not found"
# azd's hooks land here too, and azd's own login does not sign in the Azure CLI: say so in one line.
az account show --only-show-errors >/dev/null 2>&1 ||
  die "the Azure CLI is not signed in: run 'az login' (azd up needs it as well as 'azd auth login': its hooks use az), then try again"
if [[ -n "${AZURE_SUBSCRIPTION_ID:-}" ]]; then
  az account set --subscription "$AZURE_SUBSCRIPTION_ID"
fi
SUBSCRIPTION_NAME="$(az account show --query name -o tsv)"
echo "   subscription: $SUBSCRIPTION_NAME ($(az account show --query id -o tsv))"
echo "   resource group: $RESOURCE_GROUP"

# Who is deploying: becomes a PostgreSQL Entra administrator so that this script can run the migrations.
ACCOUNT_TYPE="$(az account show --query user.type -o tsv)" # user | servicePrincipal
ARM_TOKEN="$(az account get-access-token --query accessToken -o tsv)"
DEPLOYER_OBJECT_ID="$(jwt_claim "$ARM_TOKEN" oid)"
if [[ "$ACCOUNT_TYPE" == "servicePrincipal" ]]; then
  DEPLOYER_TYPE="ServicePrincipal"
  DEPLOYER_NAME="${DEPLOYER_PRINCIPAL_NAME:-$(az ad sp show --id "$(az account show --query user.name -o tsv)" \
    --query displayName -o tsv 2>/dev/null || true)}"
else
  DEPLOYER_TYPE="User"
  DEPLOYER_NAME="${DEPLOYER_PRINCIPAL_NAME:-$(jwt_claim "$ARM_TOKEN" upn)}"
  [[ -n "$DEPLOYER_NAME" ]] || DEPLOYER_NAME="$(az ad signed-in-user show --query userPrincipalName -o tsv)"
fi
[[ -n "$DEPLOYER_OBJECT_ID" ]] || die "could not read the deploying principal's object id from the access token"
[[ -n "$DEPLOYER_NAME" ]] || die "could not determine the deploying principal's name; set DEPLOYER_PRINCIPAL_NAME"
echo "   deployer: $DEPLOYER_NAME ($DEPLOYER_TYPE, $DEPLOYER_OBJECT_ID)"

# Flex Consumption's virtual network integration (the default private mode) delegates a subnet to
# Microsoft.App/environments, which needs the Microsoft.App resource provider registered in the subscription.
register_providers() {
  local state
  state="$(az provider show --namespace Microsoft.App --query registrationState -o tsv 2>/dev/null || true)"
  if [[ "$state" == "Registered" ]]; then
    echo "   resource provider Microsoft.App: registered"
    return
  fi
  echo "   registering resource provider Microsoft.App (was: ${state:-unknown})"
  az provider register --namespace Microsoft.App --wait -o none ||
    die "could not register Microsoft.App; a subscription owner can run: az provider register --namespace Microsoft.App"
}

# Storage autogrow may have grown the server past postgresStorageSizeGB, and Azure refuses to shrink storage: ask for
# the size the server has now. Prints nothing for a server that does not exist yet.
current_storage_size() {
  [[ "$(az group exists --name "$RESOURCE_GROUP")" == "true" ]] || return 0
  az postgres flexible-server list -g "$RESOURCE_GROUP" \
    --query "[?tags.application=='valerix' && tags.environment=='$ENV_NAME'].storage.storageSizeGb | [0]" \
    -o tsv 2>/dev/null || true
}

if ((PREPROVISION)); then
  log "Before azd provisions"
  register_providers
  size="$(current_storage_size)"
  if [[ -n "$size" ]]; then
    command -v azd >/dev/null || die "azd not found (this is azd's preprovision hook)"
    azd env set POSTGRES_STORAGE_SIZE_GB "$size"
    echo "   PostgreSQL storage is $size GiB now: POSTGRES_STORAGE_SIZE_GB=$size"
  fi
  exit 0
fi

# azd's postprovision hook runs before azd packages anything: the migrations need the dependencies.
[[ -d node_modules ]] || npm ci --no-audit --no-fund

# main.parameters.json has azd's placeholders (${AZURE_ENV_NAME}, ...), which the Azure CLI does not fill in.
RENDERED_PARAMETERS="$(mktemp "${TMPDIR:-/tmp}/valerix-parameters.XXXXXX")"
AZURE_ENV_NAME="$ENV_NAME" AZURE_LOCATION="$LOCATION" AZURE_PRINCIPAL_ID="$DEPLOYER_OBJECT_ID" \
  node --import tsx infra/scripts/azd-parameters.ts "$PARAMETERS" "$RENDERED_PARAMETERS"
DEPLOY_PARAMS=(
  --resource-group "$RESOURCE_GROUP"
  --name "$DEPLOYMENT_NAME"
  --template-file "$TEMPLATE"
  --parameters "@$RENDERED_PARAMETERS"
  --parameters "deployerObjectId=$DEPLOYER_OBJECT_ID" "deployerPrincipalName=$DEPLOYER_NAME"
  "deployerPrincipalType=$DEPLOYER_TYPE" "alertEmail=${ALERT_EMAIL:-}"
)

# ---------------------------------------------------------------------------------------------------------------
if ((WHAT_IF)); then
  log "What-if: changes the deployment would make"
  if [[ "$(az group exists --name "$RESOURCE_GROUP")" != "true" ]]; then
    echo "   Resource group $RESOURCE_GROUP does not exist yet: a deployment would create every resource."
    exit 0
  fi
  size="$(current_storage_size)"
  if [[ -n "$size" ]]; then DEPLOY_PARAMS+=(--parameters "postgresStorageSizeGB=$size"); fi
  az deployment group what-if "${DEPLOY_PARAMS[@]}" --result-format FullResourcePayloads
  exit 0
fi

# The PostgreSQL token, now, before the long Bicep deployment: a GitHub OIDC login (azure/login) holds a federated
# token that expires after about 10 minutes, after which the CLI can get no new token for another resource, and the
# first deployment takes 10-15 minutes. An access token for PostgreSQL is valid for about an hour once issued.
log "PostgreSQL access token (taken before the long steps)"
PGPASSWORD="$(az account get-access-token --resource-type oss-rdbms --query accessToken -o tsv)"
[[ -n "$PGPASSWORD" ]] || die "could not get an access token for PostgreSQL (az account get-access-token --resource-type oss-rdbms)"
export PGPASSWORD
echo "   expires at $(jwt_claim "$PGPASSWORD" exp 2>/dev/null || echo '?') (Unix time)"

if ((MIGRATE_ONLY)); then
  # azd provisioned bicep/ and keeps its outputs in its environment, which it passes to this hook.
  for name in postgresServerName postgresFqdn databaseName identityName; do
    [[ -n "${!name:-}" ]] || die "$name is not set: run this from azd (postprovision hook) or without --migrate-only"
  done
  RESOURCE_GROUP="${AZURE_RESOURCE_GROUP:-${resourceGroupName:-$RESOURCE_GROUP}}"
  PG_SERVER="$postgresServerName"
  PG_FQDN="$postgresFqdn"
  PG_DATABASE="$databaseName"
  APP_ROLE="$identityName"
  APP_PRINCIPAL_ID="${identityPrincipalId:-}"
  log "PostgreSQL Entra administrator: $DEPLOYER_NAME"
  # deploy.sh passes the deployer to Bicep; azd does not know the deployer's name, so add it here (idempotent).
  if ! az postgres flexible-server microsoft-entra-admin show -g "$RESOURCE_GROUP" -s "$PG_SERVER" \
    -i "$DEPLOYER_OBJECT_ID" -o none 2>/dev/null; then
    retry 5 30 az postgres flexible-server microsoft-entra-admin create -g "$RESOURCE_GROUP" -s "$PG_SERVER" \
      --object-id "$DEPLOYER_OBJECT_ID" --display-name "$DEPLOYER_NAME" --type "$DEPLOYER_TYPE" -o none
  fi
else
  # ---------------------------------------------------------------------------------------------------------------
  log "Resource providers"
  register_providers

  log "Resource group"
  if [[ "$(az group exists --name "$RESOURCE_GROUP")" != "true" ]]; then
    az group create --name "$RESOURCE_GROUP" --location "$LOCATION" --tags application=valerix -o none
    echo "   created $RESOURCE_GROUP in $LOCATION"
  else
    echo "   $RESOURCE_GROUP exists"
  fi

  size="$(current_storage_size)"
  if [[ -n "$size" ]]; then
    DEPLOY_PARAMS+=(--parameters "postgresStorageSizeGB=$size")
    echo "   PostgreSQL storage is $size GiB now (autogrow): asking for that, never less"
  fi

  log "Infrastructure (Bicep): a first deployment takes 10-15 minutes, mostly PostgreSQL"
  # Retried once: PostgreSQL can reject an Entra administrator change while it is still settling after creation.
  retry 2 60 az deployment group create "${DEPLOY_PARAMS[@]}" -o none
  output() { az deployment group show -g "$RESOURCE_GROUP" -n "$DEPLOYMENT_NAME" --query "properties.outputs.$1.value" -o tsv; }
  FUNCTION_APP="$(output functionAppName)"
  FUNCTION_URL="$(output functionAppUrl)"
  UI_URL="$(output uiUrl)"
  HEALTH_URL="$(output healthUrl)"
  PG_SERVER="$(output postgresServerName)"
  PG_FQDN="$(output postgresFqdn)"
  PG_DATABASE="$(output databaseName)"
  APP_ROLE="$(output identityName)"
  APP_PRINCIPAL_ID="$(output identityPrincipalId)"
fi

# ---------------------------------------------------------------------------------------------------------------
log "Database migrations (as $DEPLOYER_NAME, Entra token as password)"
# The server allows Azure services only; open it to this machine for the migration and close it again afterwards.
MY_IP="$(curl -fsS --max-time 10 https://api.ipify.org || true)"
FIREWALL_RULE=""
close_firewall() {
  if [[ -n "$FIREWALL_RULE" ]]; then
    az postgres flexible-server firewall-rule delete -g "$RESOURCE_GROUP" --name "$PG_SERVER" \
      --rule-name "$FIREWALL_RULE" --yes -o none 2>/dev/null || true
  fi
}
trap 'close_firewall; rm -f "$RENDERED_PARAMETERS"' EXIT
if [[ -n "$MY_IP" ]]; then
  FIREWALL_RULE="deploy-${MY_IP//./-}"
  retry 5 20 az postgres flexible-server firewall-rule create -g "$RESOURCE_GROUP" --name "$PG_SERVER" \
    --rule-name "$FIREWALL_RULE" --start-ip-address "$MY_IP" --end-ip-address "$MY_IP" -o none
  echo "   temporary firewall rule $FIREWALL_RULE for $MY_IP"
else
  echo "   could not determine this machine's public IP; assuming it can already reach $PG_FQDN"
fi

MIGRATION_URL="postgres://$(urlencode "$DEPLOYER_NAME")@${PG_FQDN}:5432/${PG_DATABASE}?sslmode=require"
# As the owning role (granted to this deployer, so the next deployer can alter what this one creates); then the
# app's role, an ordinary Entra principal (not an administrator), gets the use of the app's schemas.
# A new firewall rule and a new Entra administrator can take a minute to apply.
retry 5 30 env DATABASE_URL="$MIGRATION_URL" DATABASE_AUTH=password npm run migrate --silent -- \
  --as-role "$OWNER_ROLE" --grant-to "$APP_ROLE" --app-object-id "$APP_PRINCIPAL_ID"
close_firewall
FIREWALL_RULE=""

if ((MIGRATE_ONLY)); then
  log "Migrated; azd deploys the package next (artifacts/deploy/package, built by its prepackage hook)"
  exit 0
fi

# ---------------------------------------------------------------------------------------------------------------
log "Publish to $FUNCTION_APP (Flex Consumption one deploy)"
# The first publish can fail while the identity's new role on the deployment container propagates.
retry 5 30 az functionapp deployment source config-zip -g "$RESOURCE_GROUP" -n "$FUNCTION_APP" \
  --src "$PACKAGE_ZIP" -o none

log "Waiting for $HEALTH_URL"
healthy=0
for _ in $(seq 1 30); do
  if curl -fsS --max-time 20 "$HEALTH_URL" >/dev/null 2>&1; then
    healthy=1
    break
  fi
  sleep 10
done
if ((healthy)); then
  echo "   healthy"
else
  # A malformed app setting shows up here first (settings are fully validated on the first invocation).
  echo "   NOT healthy after 5 minutes: check $HEALTH_URL and the Function App logs (invocation failures name the setting)" >&2
fi

# ---------------------------------------------------------------------------------------------------------------
log "Done"
cat <<EOF
   App:                  $FUNCTION_URL
   Web page:             $UI_URL
   Health:               $HEALTH_URL
   Function App:         $(output functionAppPortalUrl)
   Application Insights: $(output applicationInsightsPortalUrl)
   Workbook:             $(output workbookPortalUrl)
   PostgreSQL:           $PG_FQDN (database $PG_DATABASE, app role $APP_ROLE)
   Backups container:    $(output backupContainerUrl)
EOF
# Red in CI too: a deployment that never became healthy is a failed deployment.
((healthy)) || exit 1
