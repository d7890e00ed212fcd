# shellcheck shell=bash
# Helpers shared by the scripts in scripts/: where the repository is, and progress messages
# that carry the time elapsed since the script started; progress.sh adds estimates of the time
# left. Sourced, never run.

# shellcheck disable=SC2034  # used by the scripts that source this file
COURIER_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
COURIER_SCRIPT="$(basename "$0")"
# EPOCHREALTIME gives sub-second resolution without forking `date`.
COURIER_T0="${EPOCHREALTIME/[.,]/}"

# Seconds since the script started, one decimal: "12.3s".
elapsed() {
  local now="${EPOCHREALTIME/[.,]/}"
  local tenths=$(((now - COURIER_T0) / 100000))
  printf '%d.%ds' $((tenths / 10)) $((tenths % 10))
}

# Progress goes to stdout, so a user sees it in order with the tools' own output.
log() { printf '[%s %7s] %s\n' "$COURIER_SCRIPT" "$(elapsed)" "$*"; }
warn() { printf '[%s %7s] warning: %s\n' "$COURIER_SCRIPT" "$(elapsed)" "$*" >&2; }
die() {
  printf '[%s %7s] error: %s\n' "$COURIER_SCRIPT" "$(elapsed)" "$*" >&2
  exit 1
}

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [[ $(id -u) -eq 0 ]]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "need root to run: $* (and sudo is not installed)"
  fi
}

# shellcheck source=scripts/lib/progress.sh
source "$COURIER_ROOT/scripts/lib/progress.sh"
