#!/usr/bin/env bash
# Cloud Scheduler jobs for KMC Aduan: sweep (every 15 min), daily digest (07:00 WIB), media (hourly).
#
# The jobs POST to the private functions with an OIDC token of a dedicated service account that
# may invoke those three functions and nothing else. Idempotent: a job is described first, then
# created or updated to match. The jobs are idempotent too, so a retry is harmless.
# Run after scripts/deploy.sh. See docs/deploy.md.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=scripts/lib.sh
. "$SCRIPT_DIR/lib.sh"

SCHEDULER_SA_NAME=kmc-scheduler
TIME_ZONE=Asia/Jakarta

# job  function  schedule  attempt-deadline  max-retry-attempts  min-backoff  max-backoff
#      max-doublings  max-retry-duration
# Retries end before the next regular run (sweep: within 10 of its 15 minutes); the digest
# keeps trying for up to two hours so leadership still gets it the same morning.
JOBS=(
  "kmc-sweep sweep */15_*_*_*_* 300s 3 30s 300s 3 600s"
  "kmc-daily daily 0_7_*_*_*    540s 5 120s 1800s 4 7200s"
  "kmc-media media 0_*_*_*_*    300s 2 120s 600s 2 1800s"
)

usage() {
  cat <<'EOF'
Usage: scripts/scheduler.sh --project PROJECT_ID [options]

Create or update the Cloud Scheduler jobs (time zone Asia/Jakarta) that run the private
KMC Aduan functions deployed by scripts/deploy.sh:

  kmc-sweep   */15 * * * *   sweep   new responses, SLA, replies, forwarding
  kmc-daily   0 7 * * *      daily   overdue marking and the digest email (07:00 WIB)
  kmc-media   0 * * * *      media   news feeds (hourly)

Options:
  --project ID      Google Cloud project id (required)
  --region REGION   region of the functions and the jobs (default: asia-southeast2)
  --dry-run         print every gcloud command without running anything
  -h, --help        show this help
EOF
}

PROJECT=""
REGION=asia-southeast2

parse_args() {
  while (($#)); do
    case $1 in
      --project) PROJECT=${2:?--project needs a value}; shift 2 ;;
      --project=*) PROJECT=${1#*=}; shift ;;
      --region) REGION=${2:?--region needs a value}; shift 2 ;;
      --region=*) REGION=${1#*=}; shift ;;
      --dry-run) DRY_RUN=1; shift ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown argument: $1" ;;
    esac
  done
}

ensure_scheduler_account() {
  note "1/3 scheduler service account"
  run gcloud services enable cloudscheduler.googleapis.com --project="$PROJECT"
  ensure_service_account "$SCHEDULER_SA_NAME" "KMC Aduan scheduler" \
    "Calls the KMC Aduan job functions (sweep, daily, media) on schedule with OIDC tokens"
}

grant_invoker() {
  note "2/3 roles/run.invoker on the job functions only"
  local spec job function
  for spec in "${JOBS[@]}"; do
    read -r job function _ <<<"$spec"
    run gcloud run services add-iam-policy-binding "$function" --region="$REGION" \
      --member="serviceAccount:$SCHEDULER_SA" --role=roles/run.invoker \
      --project="$PROJECT" --format=none
  done
}

# ensure_job JOB FUNCTION SCHEDULE DEADLINE ATTEMPTS MIN_BACKOFF MAX_BACKOFF DOUBLINGS DURATION
ensure_job() {
  local job=$1 function=$2 schedule=${3//_/ } deadline=$4 attempts=$5 min_backoff=$6
  local max_backoff=$7 doublings=$8 duration=$9 uri verb headers
  uri=$(function_uri "$function") || uri=""
  [[ -n $uri ]] || die "function '$function' not found in $REGION; run scripts/deploy.sh first"
  if exists gcloud scheduler jobs describe "$job" --location="$REGION" --project="$PROJECT"; then
    verb=update
    headers=--update-headers=Content-Type=application/json
  else
    verb=create
    headers=--headers=Content-Type=application/json
  fi
  run gcloud scheduler jobs "$verb" http "$job" --location="$REGION" \
    --schedule="$schedule" --time-zone="$TIME_ZONE" \
    --uri="$uri" --http-method=POST "$headers" --message-body='{}' \
    --oidc-service-account-email="$SCHEDULER_SA" --oidc-token-audience="$uri" \
    --attempt-deadline="$deadline" --max-retry-attempts="$attempts" \
    --min-backoff="$min_backoff" --max-backoff="$max_backoff" --max-doublings="$doublings" \
    --max-retry-duration="$duration" \
    --description="KMC Aduan: $function (scripts/scheduler.sh)" \
    --project="$PROJECT" --quiet
}

ensure_jobs() {
  note "3/3 jobs (time zone $TIME_ZONE)"
  local spec fields
  for spec in "${JOBS[@]}"; do
    read -r -a fields <<<"$spec" # no globbing: the schedules hold '*'
    ensure_job "${fields[@]}"
  done
}

main() {
  parse_args "$@"
  check_project "$PROJECT"
  check_region "$REGION"
  need_gcloud
  SCHEDULER_SA=$(service_account_email "$SCHEDULER_SA_NAME" "$PROJECT")
  if ((DRY_RUN)); then
    note "dry run: nothing is created or changed; existing resources are assumed missing"
  fi
  ensure_scheduler_account
  grant_invoker
  ensure_jobs
  cat <<EOF

Scheduler jobs are set in $REGION ($TIME_ZONE). Run one now to check it:
  gcloud scheduler jobs run kmc-sweep --location=$REGION --project=$PROJECT
and read the result:
  gcloud functions logs read sweep --region=$REGION --project=$PROJECT --limit=20
EOF
}

main "$@"
