# shellcheck shell=bash
# Helpers shared by deploy.sh and scheduler.sh (sourced, not run).
#
# Every gcloud command goes through `run`, `exists` or `capture`, which print it first as
# "+ gcloud ..." (shell-quoted, so it can be copied and pasted) and, under --dry-run, do not run
# it. Secret values never pass through these helpers: see put_secret in deploy.sh.

DRY_RUN=${DRY_RUN:-0}

# Failures inside $(...) stop the script too (bash >= 4.4).
shopt -s inherit_errexit

# fd 3 is the script's own stdout, so commands run inside $(...) are still shown in order.
exec 3>&1

die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

warn() {
  printf 'warning: %s\n' "$*" >&2
}

note() {
  printf '# %s\n' "$*"
}

# quote ARG: ARG as one shell word (single-quoted unless it is made of safe characters only).
quote() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=@,+%-]+$ ]]; then
    printf '%s' "$1"
  else
    local escaped=${1//\'/\'\\\'\'}
    printf "'%s'" "$escaped"
  fi
}

# print_cmd CMD...: show a command the way it would be typed.
print_cmd() {
  local line="+" arg
  for arg in "$@"; do
    line+=" $(quote "$arg")"
  done
  printf '%s\n' "$line"
}

# run CMD...: print, then run unless dry-run.
run() {
  print_cmd "$@"
  if ((DRY_RUN)); then
    return 0
  fi
  "$@"
}

# exists CMD...: run a describe-style command quietly; true when the resource exists.
# Under dry-run the resource is assumed missing, so the full creation sequence is printed.
exists() {
  print_cmd "$@"
  if ((DRY_RUN)); then
    return 1
  fi
  "$@" >/dev/null 2>&1
}

# capture PLACEHOLDER CMD...: print, run and echo the command's stdout (PLACEHOLDER under dry-run).
capture() {
  local placeholder=$1
  shift
  print_cmd "$@" >&3
  if ((DRY_RUN)); then
    printf '%s\n' "$placeholder"
    return 0
  fi
  "$@"
}

# need_gcloud: real runs need the Cloud SDK; dry runs do not.
need_gcloud() {
  if ((DRY_RUN)); then
    return 0
  fi
  command -v gcloud >/dev/null 2>&1 ||
    die "gcloud not found; install the Google Cloud SDK (https://cloud.google.com/sdk/docs/install) or use --dry-run"
}

# check_project ID / check_region NAME: fail early on a typo instead of halfway through.
check_project() {
  [[ -n $1 ]] || die "--project is required (the Google Cloud project id, e.g. kmc-aduan-ketapang)"
  [[ $1 =~ ^[a-z][a-z0-9-]{4,28}[a-z0-9]$ ]] ||
    die "--project '$1' is not a valid project id (6-30 lowercase letters, digits, hyphens)"
}

check_region() {
  [[ $1 =~ ^[a-z]+-[a-z]+[0-9]+$ ]] || die "--region '$1' is not a region name such as asia-southeast2"
}

# service_account_email NAME PROJECT
service_account_email() {
  printf '%s@%s.iam.gserviceaccount.com' "$1" "$2"
}

# ensure_service_account NAME DISPLAY_NAME DESCRIPTION: describe, create only if missing.
ensure_service_account() {
  local name=$1 display=$2 description=$3 email
  email=$(service_account_email "$name" "$PROJECT")
  if exists gcloud iam service-accounts describe "$email" --project="$PROJECT"; then
    note "service account $email exists"
  else
    run gcloud iam service-accounts create "$name" \
      --display-name="$display" --description="$description" --project="$PROJECT"
  fi
}

# function_uri NAME: the function's HTTPS address (its Cloud Run URL).
function_uri() {
  capture "https://$1-<hash>.a.run.app" \
    gcloud functions describe "$1" --region="$REGION" --project="$PROJECT" \
    --format='value(serviceConfig.uri)'
}
