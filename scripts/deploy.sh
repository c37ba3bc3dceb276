#!/usr/bin/env bash
# Deploy KMC Aduan to Google Cloud: APIs, service accounts, the intake queue (Cloud Tasks), secrets,
# eight Cloud Run functions.
#
# Idempotent: every resource is described first and created only when missing; functions are
# deployed with `gcloud functions deploy`, which creates or updates. Run it again to upgrade.
# See docs/deploy.md for the whole procedure (Bahasa Indonesia and English).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/.." && pwd)
# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"

RUNTIME=python311
RUNTIME_SA_NAME=kmc-runtime
BUILD_SA_NAME=kmc-build
# The identity in the OIDC token Cloud Tasks sends to the private intake function.
TASKS_SA_NAME=kmc-tasks
# The intake queue between the doors and the Sheets quota (docs/deploy.md, "The intake queue").
# Dispatch is paced under the Sheets API's 60 writes/minute (the writer coalesces what arrives
# together into one write); a store that is down is retried with backoff (10 s .. 10 min);
# 100 attempts are days of retrying, and a task failing 5 times is reported in the digest first.
TASKS_QUEUE_NAME=kmc-intake
TASKS_QUEUE_FLAGS=(--max-dispatches-per-second=1 --max-concurrent-dispatches=10 --max-attempts=100
  --min-backoff=10s --max-backoff=600s --max-doublings=5)
# Regions closest to Jakarta first: the queue goes to the functions' region when Cloud Tasks
# offers it there (`gcloud tasks locations list`), else to the nearest one that does.
TASKS_NEAREST=(asia-southeast2 asia-southeast1 asia-east2 asia-east1 asia-northeast1 australia-southeast1)

APIS=(
  cloudfunctions.googleapis.com
  run.googleapis.com
  cloudbuild.googleapis.com
  artifactregistry.googleapis.com
  secretmanager.googleapis.com
  sheets.googleapis.com
  cloudscheduler.googleapis.com
  logging.googleapis.com
  iam.googleapis.com
  cloudresourcemanager.googleapis.com
  cloudtasks.googleapis.com
  storage.googleapis.com
  speech.googleapis.com
)

# Attachments (docs/media-attachments.md): a private bucket, uniform bucket-level access, public
# access prevention enforced. Lifecycle (scripts/media-lifecycle.json): web-form uploads never
# picked up (masuk/) go after 7 days; files of archived cases (arsip/, moved there by `archive`)
# after 5 years; files of live cases (kasus/) stay while the case is in the workbook.
# KMC_MEDIA_BUCKET overrides the name; KMC_MEDIA_LOCATION the location (default: the functions'
# region, so the evidence stays in Indonesia; us-central1 falls in Cloud Storage's free tier).
# KMC_MEDIA_READERS: comma list of IAM members (group:opd@..., user:...) who may open the files.
MEDIA_LIFECYCLE=scripts/media-lifecycle.json

# Secret Manager secret id = the environment variable it becomes inside the functions.
SECRETS=(WHATSAPP_APP_SECRET WHATSAPP_ACCESS_TOKEN WHATSAPP_VERIFY_TOKEN SMTP_PASSWORD KMC_ADMIN_TOKEN)
# Secrets we may invent (random) when none is given: KMC chooses them, nobody else does.
GENERATED_SECRETS=(WHATSAPP_VERIFY_TOKEN KMC_ADMIN_TOKEN)
# Optional secrets: ensured like the others when the variable is set or the secret already
# exists; otherwise never prompted for, not created and not given to the functions (a reference
# to a missing secret would make the deploy fail). META_PAGE_ACCESS_TOKEN: Messenger/Instagram.
OPTIONAL_SECRETS=(META_PAGE_ACCESS_TOKEN)
# The secrets the functions get (--set-secrets): filled in by ensure_secrets.
MOUNTED_SECRETS=()

# name  entry-point  access  memory  timeout  max-instances  concurrency  cpu
# Public functions face citizens and Meta; private ones only Cloud Scheduler and KMC admins.
# meta takes 20 concurrent deliveries per instance (1 vCPU, few instances) so a burst of webhooks
# is coalesced into few Sheets writes by one instance instead of spread over many.
# Jobs run one at a time (max-instances 1): an overlapping retry waits instead of racing.
# intake (called by Cloud Tasks) takes the queue's 10 concurrent tasks in ONE instance, so their
# rows coalesce into one Sheets write and one instance-local ticket index sees every row.
# daily_digest renders charts (pandas/matplotlib), hence 512Mi. intake downloads attachments (one
# at a time, up to 100 MB for a document, held in memory while checked and uploaded): 512Mi, 300s.
FUNCTIONS=(
  "meta       meta_webhook      public  256Mi 60s  3  20 1"
  "form       web_form          public  256Mi 60s  5  1  0.167"
  "open311    open311           public  256Mi 60s  5  1  0.167"
  "monitoring monitoring_intake private 256Mi 60s  2  1  0.167"
  "sweep      sweep             private 512Mi 300s 1  1  0.333"
  "daily      daily_digest      private 512Mi 540s 1  1  0.333"
  "media      media_monitor     private 256Mi 300s 1  1  0.167"
  "intake     intake_worker     private 512Mi 300s 1  10 1"
)

# Plain (non-secret) settings passed through from the environment when set: every KMC_* variable
# (so a new setting needs no change here) plus these. Secrets never travel as plain variables.
PASSTHROUGH_ENV=(
  WHATSAPP_PHONE_NUMBER_ID WHATSAPP_TEMPLATE WHATSAPP_TEMPLATE_LANGUAGE META_GRAPH_URL
  SMTP_HOST SMTP_PORT SMTP_USER SMTP_STARTTLS MAIL_FROM DIGEST_TO
)
# Set by this script itself, whatever the environment says.
FIXED_ENV=(KMC_BACKEND KMC_DATA_DIR KMC_SPREADSHEET_ID KMC_CONTACTS_SPREADSHEET_ID KMC_PUBLIC_URL
  GOOGLE_CLOUD_PROJECT KMC_QUEUE KMC_TASKS_QUEUE KMC_TASKS_INVOKER KMC_INTAKE_URL KMC_SERVICE_ACCOUNT
  KMC_MEDIA_BUCKET KMC_MEDIA_LOCATION KMC_MEDIA_READERS)
RECOMMENDED_ENV=(WHATSAPP_PHONE_NUMBER_ID SMTP_HOST MAIL_FROM DIGEST_TO)

usage() {
  cat <<'EOF'
Usage: scripts/deploy.sh --project PROJECT_ID [options]

Deploy (or upgrade) KMC Aduan on Google Cloud as Cloud Run functions (gen2).

Options:
  --project ID            Google Cloud project id (required)
  --region REGION         region for the functions (default: asia-southeast2, Jakarta)
  --config FILE           read settings from FILE (KEY=VALUE lines) before deploying
  --only NAME[,NAME...]   deploy only these functions (meta, form, open311, monitoring,
                          sweep, daily, media, intake); APIs, accounts, the intake queue and
                          secrets are still ensured
  --monitoring-invoker M  allow principal M (e.g. user:admin@ketapangkab.go.id) to call the
                          private monitoring function; repeatable
  --skip-checks           do not call /healthz on the deployed functions
  --dry-run               print every gcloud command without running anything
  -h, --help              show this help

Settings come from the environment (or --config FILE):
  required  KMC_SPREADSHEET_ID, KMC_CONTACTS_SPREADSHEET_ID
  secrets   WHATSAPP_APP_SECRET, WHATSAPP_ACCESS_TOKEN, WHATSAPP_VERIFY_TOKEN, SMTP_PASSWORD,
            KMC_ADMIN_TOKEN: stored in Secret Manager. When a secret does not exist yet and
            its variable is unset you are prompted (input hidden); WHATSAPP_VERIFY_TOKEN and
            KMC_ADMIN_TOKEN are generated at random instead. Existing secrets are kept unless
            the variable is set to a new value.
            META_PAGE_ACCESS_TOKEN (Facebook Page token for Messenger/Instagram answers) is an
            optional secret: stored and given to the functions when the variable is set or the
            secret already exists; otherwise never prompted for, and those answers go to the
            outbox until you export it and run deploy.sh again.
  optional  KMC_PUBLIC_URL (default https://REGION-PROJECT.cloudfunctions.net) and every other
            KMC_* setting (KMC_SLA_HOURS, KMC_TICKET_PREFIX, KMC_MEDIA_FEEDS ...), plus
            WHATSAPP_PHONE_NUMBER_ID, WHATSAPP_TEMPLATE, SMTP_HOST, SMTP_PORT, SMTP_USER,
            SMTP_STARTTLS, MAIL_FROM, DIGEST_TO
EOF
}

PROJECT=""
REGION=asia-southeast2
CONFIG=""
ONLY=""
SKIP_CHECKS=0
INVOKERS=()

parse_args() {
  while (($#)); do
    case $1 in
      --project) PROJECT=${2:?--project needs a value}; shift 2 ;;
      --project=*) PROJECT=${1#*=}; shift ;;
      --region) REGION=${2:?--region needs a value}; shift 2 ;;
      --region=*) REGION=${1#*=}; shift ;;
      --config) CONFIG=${2:?--config needs a file}; shift 2 ;;
      --config=*) CONFIG=${1#*=}; shift ;;
      --only) ONLY=${2:?--only needs function names}; shift 2 ;;
      --only=*) ONLY=${1#*=}; shift ;;
      --monitoring-invoker) INVOKERS+=("${2:?--monitoring-invoker needs a principal}"); shift 2 ;;
      --monitoring-invoker=*) INVOKERS+=("${1#*=}"); shift ;;
      --skip-checks) SKIP_CHECKS=1; shift ;;
      --dry-run) DRY_RUN=1; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
}

load_config() {
  if [[ -n $CONFIG ]]; then
    [[ -r $CONFIG ]] || die "--config $CONFIG: file not readable"
    set -a
    # shellcheck disable=SC1090
    . "$CONFIG"
    set +a
  fi
}

function_names() {
  local spec
  for spec in "${FUNCTIONS[@]}"; do
    read -r name _ <<<"$spec"
    printf '%s\n' "$name"
  done
}

selected() {
  [[ -z $ONLY ]] || [[ ",$ONLY," == *",$1,"* ]]
}

check_only() {
  local wanted known
  known=" $(function_names | tr '\n' ' ')"
  IFS=, read -r -a wanted <<<"$ONLY"
  for name in "${wanted[@]}"; do
    [[ $known == *" $name "* ]] || die "--only: unknown function '$name' (known:$known)"
  done
}

REQUIRED_ENV=(KMC_SPREADSHEET_ID KMC_CONTACTS_SPREADSHEET_ID)

# check_required: fail before touching the project; under dry-run show placeholders instead.
check_required() {
  local name
  for name in "${REQUIRED_ENV[@]}"; do
    [[ -z ${!name:-} ]] || continue
    if ((DRY_RUN)); then
      warn "$name is not set; showing a placeholder"
      printf -v "$name" '<%s>' "$name"
    else
      die "$name is required: the id in the spreadsheet's address, docs.google.com/spreadsheets/d/<ID>/edit"
    fi
  done
}

# join_env KEY=VALUE...: one --set-env-vars value; switches gcloud's list delimiter to "|" when
# a value holds a comma (DIGEST_TO, KMC_MEDIA_FEEDS), see `gcloud topic escaping`.
join_env() {
  local sep="," prefix="" pair out=""
  for pair in "$@"; do
    if [[ $pair == *,* ]]; then
      sep="|"
      prefix="^|^"
    fi
  done
  for pair in "$@"; do
    [[ $pair != *"|"* ]] || die "setting ${pair%%=*} must not contain '|'"
    out+=${out:+$sep}$pair
  done
  printf '%s%s' "$prefix" "$out"
}

build_env_vars() {
  local pairs=() name
  pairs+=("KMC_BACKEND=google")
  pairs+=("GOOGLE_CLOUD_PROJECT=$PROJECT")
  pairs+=("KMC_SPREADSHEET_ID=$KMC_SPREADSHEET_ID")
  pairs+=("KMC_CONTACTS_SPREADSHEET_ID=$KMC_CONTACTS_SPREADSHEET_ID")
  pairs+=("KMC_PUBLIC_URL=${KMC_PUBLIC_URL:-$BASE_URL}")
  pairs+=("KMC_DATA_DIR=/tmp/kmc")
  pairs+=("KMC_QUEUE=cloudtasks")
  pairs+=("KMC_TASKS_QUEUE=projects/$PROJECT/locations/$TASKS_LOCATION/queues/$TASKS_QUEUE_NAME")
  pairs+=("KMC_TASKS_INVOKER=$TASKS_SA")
  pairs+=("KMC_INTAKE_URL=$BASE_URL/intake")
  # the runtime identity: bootstrap names it as editor of the protected system columns
  pairs+=("KMC_SERVICE_ACCOUNT=${KMC_SERVICE_ACCOUNT:-$RUNTIME_SA}")
  pairs+=("KMC_MEDIA_BUCKET=$MEDIA_BUCKET")
  local skip=" ${FIXED_ENV[*]} ${SECRETS[*]} ${OPTIONAL_SECRETS[*]} "
  for name in $(compgen -e KMC_) "${PASSTHROUGH_ENV[@]}"; do
    if [[ -n ${!name:-} && $skip != *" $name "* ]]; then
      pairs+=("$name=${!name}")
    fi
  done
  for name in "${RECOMMENDED_ENV[@]}"; do
    [[ -n ${!name:-} ]] || warn "$name is not set; see docs/deploy.md (WhatsApp replies need WHATSAPP_PHONE_NUMBER_ID, the digest email needs SMTP_HOST, MAIL_FROM and DIGEST_TO)"
  done
  join_env "${pairs[@]}"
}

# secret_refs: the --set-secrets value, for the secrets ensure_secrets found or stored.
secret_refs() {
  local refs=() name
  for name in "${MOUNTED_SECRETS[@]}"; do
    refs+=("$name=$name:latest")
  done
  local IFS=,
  printf '%s' "${refs[*]}"
}

enable_apis() {
  note "1/5 APIs"
  run gcloud services enable "${APIS[@]}" --project="$PROJECT"
}

bind_project_role() {
  run gcloud projects add-iam-policy-binding "$PROJECT" --member="serviceAccount:$1" \
    --role="$2" --condition=None --format=none
}

ensure_service_accounts() {
  note "2/5 service accounts (least privilege: no Editor, no Owner)"
  ensure_service_account "$RUNTIME_SA_NAME" "KMC Aduan functions" \
    "Runs the KMC Aduan functions: writes logs, reads its own secrets, edits the two spreadsheets shared with it"
  bind_project_role "$RUNTIME_SA" roles/logging.logWriter
  ensure_service_account "$BUILD_SA_NAME" "KMC Aduan builds" \
    "Builds the KMC Aduan function images in Cloud Build"
  bind_project_role "$BUILD_SA" roles/cloudbuild.builds.builder
  ensure_service_account "$TASKS_SA_NAME" "KMC Aduan intake queue" \
    "Identity of Cloud Tasks when it calls the private intake function (OIDC); may do nothing else"
}

# pick_tasks_location: the functions' region when Cloud Tasks is offered there, else the nearest.
pick_tasks_location() {
  local offered candidate
  print_cmd gcloud tasks locations list --project="$PROJECT" --format='value(locationId)'
  if ((DRY_RUN)); then
    TASKS_LOCATION=$REGION
    return 0
  fi
  offered=" $(gcloud tasks locations list --project="$PROJECT" --format='value(locationId)' | tr '\n' ' ') "
  for candidate in "$REGION" "${TASKS_NEAREST[@]}"; do
    if [[ $offered == *" $candidate "* ]]; then
      TASKS_LOCATION=$candidate
      [[ $candidate == "$REGION" ]] || warn "Cloud Tasks is not offered in $REGION; the intake queue goes to $candidate"
      return 0
    fi
  done
  die "Cloud Tasks is offered in none of: $REGION ${TASKS_NEAREST[*]}"
}

# ensure_intake_queue: the queue with its pacing and retries; the door functions' runtime account
# may only add tasks to it (enqueuer) and put the kmc-tasks identity in them (serviceAccountUser on
# that one account, which Cloud Tasks requires for an OIDC token; no project-wide role).
ensure_intake_queue() {
  note "3b/5 intake queue (Cloud Tasks $TASKS_QUEUE_NAME in $TASKS_LOCATION)"
  if exists gcloud tasks queues describe "$TASKS_QUEUE_NAME" --location="$TASKS_LOCATION" --project="$PROJECT"; then
    run gcloud tasks queues update "$TASKS_QUEUE_NAME" --location="$TASKS_LOCATION" "${TASKS_QUEUE_FLAGS[@]}" \
      --project="$PROJECT" --quiet
  else
    run gcloud tasks queues create "$TASKS_QUEUE_NAME" --location="$TASKS_LOCATION" "${TASKS_QUEUE_FLAGS[@]}" \
      --project="$PROJECT"
  fi
  run gcloud tasks queues add-iam-policy-binding "$TASKS_QUEUE_NAME" --location="$TASKS_LOCATION" \
    --member="serviceAccount:$RUNTIME_SA" --role=roles/cloudtasks.enqueuer --project="$PROJECT" --format=none
  run gcloud iam service-accounts add-iam-policy-binding "$TASKS_SA" \
    --member="serviceAccount:$RUNTIME_SA" --role=roles/iam.serviceAccountUser --project="$PROJECT" --format=none
}

# ensure_media_bucket: the private bucket for attachments, settings re-applied on every run; the
# runtime account manages its objects (objectAdmin on this bucket only, no project-wide role);
# KMC_MEDIA_READERS may view them (objectViewer) with their own Google accounts.
ensure_media_bucket() {
  note "3c/5 attachments bucket (gs://$MEDIA_BUCKET in $MEDIA_LOCATION)"
  local url="gs://$MEDIA_BUCKET" reader readers
  if exists gcloud storage buckets describe "$url" --project="$PROJECT"; then
    run gcloud storage buckets update "$url" --uniform-bucket-level-access --public-access-prevention \
      --lifecycle-file="$MEDIA_LIFECYCLE" --project="$PROJECT"
  else
    run gcloud storage buckets create "$url" --location="$MEDIA_LOCATION" --default-storage-class=STANDARD \
      --uniform-bucket-level-access --public-access-prevention --lifecycle-file="$MEDIA_LIFECYCLE" \
      --project="$PROJECT"
  fi
  run gcloud storage buckets add-iam-policy-binding "$url" --member="serviceAccount:$RUNTIME_SA" \
    --role=roles/storage.objectAdmin --project="$PROJECT" --format=none
  IFS=, read -r -a readers <<< "${KMC_MEDIA_READERS:-}"
  for reader in "${readers[@]}"; do
    reader=${reader// /}
    [[ -n $reader ]] || continue
    [[ $reader == *:* ]] || die "KMC_MEDIA_READERS: '$reader' needs a prefix (group:, user: or domain:)"
    run gcloud storage buckets add-iam-policy-binding "$url" --member="$reader" \
      --role=roles/storage.objectViewer --project="$PROJECT" --format=none
  done
}

# secret_value NAME: from the environment, generated, or prompted (hidden). Never printed.
secret_value() {
  local name=$1 value=${!1:-}
  if [[ -n $value ]]; then
    printf '%s' "$value"
    return 0
  fi
  if [[ " ${GENERATED_SECRETS[*]} " == *" $name "* ]]; then
    od -An -N24 -tx1 /dev/urandom | tr -d ' \n'
    return 0
  fi
  [[ -t 0 ]] || die "$name is not set and there is no terminal to ask for it; export $name and run again"
  read -r -s -p "Value for $name (input hidden): " value
  printf '\n' >&2
  [[ -n $value ]] || die "$name must not be empty"
  printf '%s' "$value"
}

# put_secret NAME create|add VALUE: store VALUE as the secret's newest version via stdin.
put_secret() {
  local name=$1 mode=$2 value=$3
  # Stored only in the functions' region (Jakarta by default): data stays in Indonesia.
  local cmd=(gcloud secrets create "$name" --replication-policy=user-managed --locations="$REGION"
    --data-file=- --project="$PROJECT")
  if [[ $mode == add ]]; then
    cmd=(gcloud secrets versions add "$name" --data-file=- --project="$PROJECT")
  fi
  print_cmd "${cmd[@]}"
  note "  stdin: <value of $name, not shown>"
  if ((DRY_RUN)); then
    return 0
  fi
  printf '%s' "$value" | "${cmd[@]}"
}

same_as_latest() {
  local name=$1 value=$2 current
  print_cmd gcloud secrets versions access latest --secret="$name" --project="$PROJECT"
  current=$(gcloud secrets versions access latest --secret="$name" --project="$PROJECT" 2>/dev/null) || return 1
  [[ $current == "$value" ]]
}

# ensure_secret NAME [optional]: store NAME if needed, let the runtime account read it and add it
# to MOUNTED_SECRETS. An optional secret that is neither set nor stored is skipped with a warning.
ensure_secret() {
  local name=$1 optional=${2:-} value
  if exists gcloud secrets describe "$name" --project="$PROJECT"; then
    if [[ -n ${!name:-} ]]; then
      if same_as_latest "$name" "${!name}"; then
        note "secret $name unchanged"
      else
        put_secret "$name" add "${!name}"
      fi
    else
      note "secret $name exists; keeping its current version"
    fi
  elif [[ -n $optional && -z ${!name:-} ]]; then
    local assumed=""
    if ((DRY_RUN)); then
      assumed=" (dry run: a $name secret already in the project would be kept and given to the functions)"
    fi
    warn "$name is not set and no such secret exists, so the functions get no Page token: Messenger/Instagram answers go to the outbox (KMC_DATA_DIR/outbox/messenger.jsonl on the instance), not to citizens, until you export $name and run deploy.sh again$assumed"
    return 0
  else
    if ((DRY_RUN)); then
      value=""
    else
      value=$(secret_value "$name")
    fi
    put_secret "$name" create "$value"
  fi
  run gcloud secrets add-iam-policy-binding "$name" --member="serviceAccount:$RUNTIME_SA" \
    --role=roles/secretmanager.secretAccessor --project="$PROJECT" --format=none
  MOUNTED_SECRETS+=("$name")
}

ensure_secrets() {
  note "3/5 secrets in Secret Manager (the runtime account may read these, nothing else)"
  local name
  MOUNTED_SECRETS=()
  for name in "${SECRETS[@]}"; do
    ensure_secret "$name"
  done
  for name in "${OPTIONAL_SECRETS[@]}"; do
    ensure_secret "$name" optional
  done
}

deploy_function() {
  local name=$1 entry=$2 access=$3 memory=$4 timeout=$5 max=$6 concurrency=$7 cpu=$8
  local auth=--allow-unauthenticated
  [[ $access == public ]] || auth=--no-allow-unauthenticated
  run gcloud functions deploy "$name" --gen2 --region="$REGION" --runtime="$RUNTIME" \
    --entry-point="$entry" --source=. --trigger-http "$auth" \
    --service-account="$RUNTIME_SA" \
    --build-service-account="projects/$PROJECT/serviceAccounts/$BUILD_SA" \
    --set-secrets="$SECRET_REFS" --set-env-vars="$ENV_VARS" \
    --memory="$memory" --timeout="$timeout" --min-instances=0 --max-instances="$max" \
    --concurrency="$concurrency" --cpu="$cpu" --project="$PROJECT" --quiet
}

deploy_functions() {
  note "4/5 functions (gen2, $RUNTIME, $REGION); each takes a few minutes to build"
  local spec name entry access memory timeout max concurrency cpu member
  for spec in "${FUNCTIONS[@]}"; do
    read -r name entry access memory timeout max concurrency cpu <<<"$spec"
    selected "$name" || continue
    deploy_function "$name" "$entry" "$access" "$memory" "$timeout" "$max" "$concurrency" "$cpu"
  done
  for member in "${INVOKERS[@]}"; do
    run gcloud run services add-iam-policy-binding monitoring --region="$REGION" \
      --member="$member" --role=roles/run.invoker --project="$PROJECT" --format=none
  done
  if selected intake; then  # only Cloud Tasks' identity may call the intake worker
    run gcloud run services add-iam-policy-binding intake --region="$REGION" \
      --member="serviceAccount:$TASKS_SA" --role=roles/run.invoker --project="$PROJECT" --format=none
  fi
}

# health_check NAME ACCESS: GET /healthz; private functions with the caller's identity token.
health_check() {
  local name=$1 access=$2 url="$BASE_URL/$1/healthz" token
  if [[ $access == public ]]; then
    print_cmd curl -fsS --max-time 60 "$url"
  else
    # shellcheck disable=SC2016 # printed for the reader to run; not expanded here
    printf '+ curl -fsS --max-time 60 -H "Authorization: Bearer $(gcloud auth print-identity-token)" %s\n' "$url"
  fi
  if ((DRY_RUN)); then
    return 0
  fi
  if [[ $access == public ]]; then
    curl -fsS --max-time 60 "$url" >/dev/null
  else
    token=$(gcloud auth print-identity-token) || return 1
    curl -fsS --max-time 60 -H "Authorization: Bearer $token" "$url" >/dev/null
  fi
}

check_functions() {
  if ((SKIP_CHECKS)); then
    return 0
  fi
  note "5/5 health checks"
  local spec name access failed=0
  for spec in "${FUNCTIONS[@]}"; do
    read -r name _ access _ <<<"$spec"
    selected "$name" || continue
    if ! health_check "$name" "$access"; then
      warn "$name did not answer /healthz; read its logs: gcloud functions logs read $name --region=$REGION --project=$PROJECT"
      failed=1
    fi
  done
  return "$failed"
}

print_summary() {
  local done="is deployed"
  if ((DRY_RUN)); then
    done="would be deployed (dry run)"
  fi
  cat <<EOF

KMC Aduan $done in project $PROJECT ($REGION).

Runtime service account (share BOTH spreadsheets with it as Editor):
  $RUNTIME_SA

Meta app > WhatsApp > Configuration > Webhook (also Messenger / Instagram webhooks):
  Callback URL:  $BASE_URL/meta
  Verify token:  gcloud secrets versions access latest --secret=WHATSAPP_VERIFY_TOKEN --project=$PROJECT
  Subscribe to:  messages (WhatsApp); messages, feed (Page); messages, comments (Instagram)

Complaint form to publish (website, Instagram bio, posters):
  $BASE_URL/form
Public status page:    $BASE_URL/form/status?tiket=KMC-...
Open311 (GeoReport v2): $BASE_URL/open311/v2/services.json

Next steps (docs/deploy.md):
  1. python main.py bootstrap   (KMC_BACKEND=google, after gcloud auth application-default login)
  2. scripts/scheduler.sh --project $PROJECT --region $REGION
EOF
}

main() {
  parse_args "$@"
  load_config
  check_project "$PROJECT"
  check_region "$REGION"
  [[ -z $ONLY ]] || check_only
  check_required
  need_gcloud
  cd "$REPO_DIR"
  RUNTIME_SA=$(service_account_email "$RUNTIME_SA_NAME" "$PROJECT")
  BUILD_SA=$(service_account_email "$BUILD_SA_NAME" "$PROJECT")
  TASKS_SA=$(service_account_email "$TASKS_SA_NAME" "$PROJECT")
  BASE_URL="https://$REGION-$PROJECT.cloudfunctions.net"
  MEDIA_BUCKET=${KMC_MEDIA_BUCKET:-$PROJECT-kmc-lampiran}
  MEDIA_LOCATION=${KMC_MEDIA_LOCATION:-$REGION}
  if ((DRY_RUN)); then
    note "dry run: nothing is created or changed; existing resources are assumed missing"
  fi
  enable_apis
  pick_tasks_location  # after enable_apis: the Cloud Tasks API answers only once enabled
  ENV_VARS=$(build_env_vars)
  ensure_service_accounts
  ensure_intake_queue
  ensure_media_bucket
  ensure_secrets
  # After ensure_secrets: only secrets that exist (or, in a dry run, would be created) are referenced.
  SECRET_REFS=$(secret_refs)
  deploy_functions
  local status=0
  check_functions || status=2
  print_summary
  return "$status"
}

main "$@"
