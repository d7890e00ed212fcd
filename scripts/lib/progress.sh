# shellcheck shell=bash
# Progress with an estimate of the time left, for the scripts' long steps (issue #8). Sourced by
# common.sh, after log(). Every estimate extrapolates something measured in this run (or, for
# CTest, the previous run's per-test times); when there is nothing to extrapolate from yet, the
# line says "no estimate yet" instead of guessing.
#
# The filters below read a tool's output on stdin, pass it through unchanged and add a log line
# now and then: at most every $progress_interval seconds while things move, and every
# $progress_heartbeat seconds when the tool is quiet (a long link, a long test), so a plain CI
# log gets a readable line, never a flood of carriage returns. They always exit 0: the caller's
# `set -o pipefail` reports the tool's own status.

progress_interval="${COURIER_PROGRESS_INTERVAL:-15}"
progress_heartbeat="${COURIER_PROGRESS_HEARTBEAT:-60}"

# "45s", "4m30s", "12m", "1h05m": the rough length of a duration in whole seconds.
rough_duration() {
  local s=$1
  if ((s < 60)); then
    printf '%ds' "$s"
  elif ((s < 595)); then
    s=$(((s + 5) / 10 * 10))
    printf '%dm%02ds' $((s / 60)) $((s % 60))
  elif ((s < 3570)); then
    printf '%dm' $(((s + 30) / 60))
  else
    s=$(((s + 30) / 60))
    printf '%dh%02dm' $((s / 60)) $((s % 60))
  fi
}

# time_left DONE TOTAL ELAPSED_S: "about 4m left", extrapolating the rate so far (DONE and TOTAL
# in any unit: steps, percent, seconds of budget); "no estimate yet" while nothing is done.
time_left() {
  local done=$1 total=$2 elapsed=$3
  if ((done <= 0)); then
    printf 'no estimate yet'
    return
  fi
  local left=$((elapsed * (total - done) / done))
  printf 'about %s left' "$(rough_duration $((left > 0 ? left : 0)))"
}

# Microseconds since the epoch, into the variable named $1 (no fork).
_progress_now() { printf -v "$1" '%s' "${EPOCHREALTIME/[.,]/}"; }

# _progress_read VAR: reads one line into VAR, waiting at most $progress_heartbeat seconds.
# Returns 0 with a line, 1 at the end of input, 2 on a timeout (a partial line is kept in
# _progress_partial and completed by the next read).
_progress_partial=""
_progress_read() {
  local -n _line=$1
  local chunk="" rc=0
  IFS= read -r -t "$progress_heartbeat" chunk || rc=$?
  if ((rc == 0)); then
    _line="$_progress_partial$chunk"
    _progress_partial=""
    return 0
  fi
  if ((rc > 128)); then
    _progress_partial+="$chunk"
    return 2
  fi
  # End of input: a last line without a newline still counts.
  _line="$_progress_partial$chunk"
  _progress_partial=""
  [[ -n $_line ]] && return 0
  return 1
}

# build_progress: filters `cmake --build` output (Makefiles: "[ 45%] Building ...", Ninja:
# "[12/345] Building ..."). The rate is measured from the first step that does work, so targets
# that were already up to date do not make the estimate look shorter than it is. CMake's
# percentage counts steps, not their cost: a long link at the end is not foreseen.
build_progress() {
  local line rc pct=-1 base_pct=-1 base_us=0 now_us last_us=0 next_mark=10 force
  _progress_now last_us
  while :; do
    rc=0
    _progress_read line || rc=$?
    ((rc == 1)) && break
    _progress_now now_us
    force=false
    if ((rc == 0)); then
      printf '%s\n' "$line"
      # A colour escape may come first (CLICOLOR_FORCE on a terminal).
      if [[ $line =~ ^($'\e'\[[0-9\;]*m)*\[\ *([0-9]+)%\] ]]; then
        pct=${BASH_REMATCH[2]}
      elif [[ $line =~ ^($'\e'\[[0-9\;]*m)*\[([0-9]+)/([0-9]+)\] ]]; then
        pct=$((100 * BASH_REMATCH[2] / BASH_REMATCH[3]))
      else
        continue
      fi
      # Make prints "Built target X" for targets with nothing to do; Ninja prints work only.
      if ((base_pct < 0)) && [[ $line != *"Built target"* ]]; then
        base_pct=$pct base_us=$now_us
      fi
      ((pct >= next_mark)) && force=true
    fi
    ((pct < 0 || base_pct < 0 || pct >= 100)) && continue
    if $force || ((now_us - last_us >= progress_interval * 1000000 && rc == 0)) || ((rc == 2)); then
      local ran=$(((now_us - base_us) / 1000000)) left="no estimate yet"
      if ((pct > base_pct && ran >= 2)); then
        left="$(time_left $((pct - base_pct)) $((100 - base_pct)) "$ran")"
      fi
      log "build: ${pct}% of the steps done, $left"
      last_us=$now_us
      while ((next_mark <= pct)); do next_mark=$((next_mark + 10)); done
    fi
  done
  return 0
}

# ctest_progress JOBS COST_FILE DEFAULT_COST NAME...: filters `ctest -j JOBS` output for the
# tests NAME... ("Start 12: name" when one starts, "3/56 Test #12: name ... Passed 1.2 sec" when
# it ends). Each test's expected time is its cost in COST_FILE (CTest's own
# Testing/Temporary/CTestCostData.txt: "name runs mean-seconds" lines), else DEFAULT_COST, else
# the mean of the known ones. The time left is the expected time of the tests not finished
# (minus what the running ones have already run), scaled by how this run's finished tests
# compare with their expected times, over JOBS, and never less than the longest of them alone.
# With no timings at all it extrapolates from the tests done so far.
ctest_progress() {
  local jobs=$1 cost_file=$2 default_cost=$3
  shift 3
  local -a _ctest_names=("$@")
  local -A cost=() started_us=() finished=() expect_ms=()
  local name n c total=$# known=0 known_sum=0
  local line rc now_us t0_us last_us ran=0 done_n=0 actual_ms=0 done_expect_ms=0 frac
  if [[ -n $cost_file && -r $cost_file ]]; then
    while read -r n _ c; do
      [[ $n == --- ]] && break
      # Plain decimals only ("4.48e-05" or "nan" would break the arithmetic below).
      [[ $c =~ ^[0-9]+(\.[0-9]+)?$ ]] && cost[$n]=$c
    done <"$cost_file"
  fi
  # Costs in milliseconds, integers from here on.
  for name in "$@"; do
    if [[ -n $default_cost ]]; then
      c=$default_cost
    else
      c=${cost[$name]:-}
    fi
    [[ -n $c ]] || continue
    expect_ms[$name]=$(bc_mul1000 "$c")
    known=$((known + 1)) known_sum=$((known_sum + expect_ms[$name]))
  done
  local weighted=false basis
  if ((total == 0)); then
    :
  elif ((known > 0)); then
    weighted=true
    local mean=$((known_sum / known))
    for name in "$@"; do [[ -n ${expect_ms[$name]:-} ]] || expect_ms[$name]=$mean; done
    if [[ -n $default_cost ]]; then
      basis="${default_cost} s each"
    elif ((known == total)); then
      basis="by the last run's test times"
    else
      basis="by the last run's times of $known of them"
    fi
    log "ctest: $total tests, $(_ctest_left_text) ($basis, $jobs at a time)"
  else
    log "ctest: $total tests; no estimate yet (no timings from an earlier run)"
  fi

  _progress_now t0_us
  last_us=$t0_us
  while :; do
    rc=0
    _progress_read line || rc=$?
    ((rc == 1)) && break
    _progress_now now_us
    if ((rc == 0)); then
      printf '%s\n' "$line"
      if [[ $line =~ ^\ *Start\ +[0-9]+:\ ([^ ]+) ]]; then
        started_us[${BASH_REMATCH[1]}]=$now_us
        continue
      fi
      [[ $line =~ ^\ *([0-9]+)/([0-9]+)\ Test\ +#[0-9]+:\ ([^ ]+)\ .*\ ([0-9]+)\.([0-9]+)\ sec ]] ||
        continue
      name=${BASH_REMATCH[3]}
      finished[$name]=1
      unset "started_us[$name]"
      done_n=${BASH_REMATCH[1]}
      frac="${BASH_REMATCH[5]}000"
      actual_ms=$((actual_ms + 10#${BASH_REMATCH[4]} * 1000 + 10#${frac:0:3}))
      done_expect_ms=$((done_expect_ms + ${expect_ms[$name]:-0}))
      ((done_n < total && now_us - last_us < progress_interval * 1000000)) && continue
    fi
    ran=$(((now_us - t0_us) / 1000000))
    if ((done_n >= total)); then
      log "ctest: $done_n/$total done in $(rough_duration "$ran")"
    else
      log "ctest: $done_n/$total done, ${#started_us[@]} running, $(_ctest_left_text)"
    fi
    last_us=$now_us
  done
  return 0
}

# "about 12m left" for ctest_progress's state (its locals are visible here: bash scopes
# dynamically).
_ctest_left_text() {
  if ! $weighted; then
    time_left "$done_n" "$total" "$ran"
    return
  fi
  # This run's speed against the expected times, in percent; 100 until a second's worth of
  # expected work has finished.
  local speed=100 left_ms=0 longest_ms=0 r n now
  if ((done_expect_ms >= 1000)); then speed=$((actual_ms * 100 / done_expect_ms)); fi
  _progress_now now
  for n in "${_ctest_names[@]}"; do
    [[ -n ${finished[$n]:-} ]] && continue
    r=$((expect_ms[$n] * speed / 100))
    if [[ -n ${started_us[$n]:-} ]]; then
      r=$((r - (now - started_us[$n]) / 1000))
      ((r > 0)) || r=0
    fi
    left_ms=$((left_ms + r))
    ((r > longest_ms)) && longest_ms=$r
  done
  left_ms=$((left_ms / jobs))
  ((longest_ms > left_ms)) && left_ms=$longest_ms
  printf 'about %s left' "$(rough_duration $((left_ms / 1000)))"
}

# bc_mul1000 X: X (a decimal like 82.362) times 1000, without bc or awk.
bc_mul1000() {
  local x=$1 int frac
  int=${x%%.*}
  frac=""
  [[ $x == *.* ]] && frac=${x#*.}
  frac="${frac}000"
  printf '%d' $((10#${int:-0} * 1000 + 10#${frac:0:3}))
}

# apt_progress: filters `apt-get -o APT::Status-Fd=1` output: its "dlstatus:" (download) and
# "pmstatus:" (unpack and configure) lines become a progress line per phase with the percentage
# apt reports and the time left at this phase's rate so far; every other line passes through.
apt_progress() {
  local line rc kind pct what phase="" phase_us=0 now_us last_us=0 next_mark=0 ran label
  while :; do
    rc=0
    _progress_read line || rc=$?
    ((rc == 1)) && break
    _progress_now now_us
    if ((rc == 0)); then
      if [[ $line =~ ^(dlstatus|pmstatus):[^:]*:([0-9]+)(\.[0-9]+)?:(.*)$ ]]; then
        kind=${BASH_REMATCH[1]} pct=${BASH_REMATCH[2]} what=${BASH_REMATCH[4]}
      else
        printf '%s\n' "$line"
        continue
      fi
      if [[ $kind != "$phase" ]]; then
        phase=$kind phase_us=$now_us next_mark=0
      fi
      ((pct >= next_mark || now_us - last_us >= progress_interval * 1000000)) || continue
    fi
    [[ -n $phase ]] || continue
    label=downloading
    [[ $phase == pmstatus ]] && label=installing
    ran=$(((now_us - phase_us) / 1000000))
    if ((pct >= 100)); then
      log "apt: $label done in $(rough_duration "$ran")"
    elif ((ran >= 2)); then
      log "apt: $label ${pct}% ($what), $(time_left "$pct" 100 "$ran")"
    else
      log "apt: $label ${pct}% ($what)"
    fi
    last_us=$now_us
    while ((next_mark <= pct)); do next_mark=$((next_mark + 20)); done
  done
  return 0
}
