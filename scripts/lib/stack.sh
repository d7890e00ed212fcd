# shellcheck shell=bash
# shellcheck disable=SC2154  # host, data_dir, log_dir, the timeouts: set by the sourcing script
# What scripts/run-stack and scripts/cluster share: the data directory's lock, free ports, the
# JWT secret, running each component as a child with its own log, waiting for readiness,
# stopping by PID, watching for a component that dies, and the walkthrough of the banner.
# Sourced after lib/common.sh, never run.
#
# The sourcing script sets, before it calls these:
#   host           the address everything listens on (127.0.0.1)
#   data_dir       absolute path of the data directory
#   log_dir        where the components' logs go
#   ready_timeout  seconds wait_ready waits
#   stop_timeout   seconds stop_components waits before SIGKILL
# and defines stop_all (stops everything it started; called on a signal, on exit and when a
# component dies).

# Components by name: their PIDs, their logs, and the order they were started in.
declare -A pids=() logs=()
order=()

# ---------------------------------------------------------------------------------------------
# The data directory, ports, the secret.

# lock_data_dir: one stack per data directory (two Redis servers must never share an
# append-only file). The lock is inherited by the components, so it stays held while any of them
# lives, even if the script was killed with SIGKILL and left them behind. Writes
# DATA_DIR/<script>.pid.
lock_data_dir() {
  exec {lock_fd}>"$data_dir/.lock"
  if ! flock -n "$lock_fd"; then
    local owner f
    for f in "$data_dir"/*.pid; do
      [[ -f $f ]] || continue
      owner="$(cat "$f" 2>/dev/null || true)"
      if [[ -n $owner ]] && kill -0 "$owner" 2>/dev/null; then
        die "$data_dir is in use by $(basename "$f" .pid) pid $owner: stop it first, or use" \
          "another --data-dir"
      fi
    done
    die "$data_dir is held by processes a killed $COURIER_SCRIPT left running;" \
      "see 'fuser -v $data_dir/.lock', stop them, then start again"
  fi
  echo "$$" >"$data_dir/$COURIER_SCRIPT.pid"
}

# free_ports N: prints N free ports on $host, all different from one another. Another program
# could still take one before our server binds it; the server then fails to start and says so
# in its log.
free_ports() {
  python3 -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[2])):
    s = socket.socket()
    s.bind((sys.argv[1], 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))' "$host" "$1" ||
    die "could not pick free ports (python3 missing? run scripts/setup)"
}

# pick_free_ports VAR...: sets each named variable to a free port (as free_ports).
pick_free_ports() {
  (($#)) || return 0
  local free=() v i=0
  read -r -a free <<<"$(free_ports "$#")"
  ((${#free[@]} == $#)) || die "could not pick $# free ports"
  for v in "$@"; do
    printf -v "$v" '%s' "${free[$i]}"
    i=$((i + 1))
  done
}

# True when something accepts TCP connections on host:$1.
port_open() { (exec 3<>"/dev/tcp/$host/$1") 2>/dev/null; }

# check_ports_free NAME=PORT...: dies naming every port something already listens on.
check_ports_free() {
  local busy=() item
  for item in "$@"; do
    port_open "${item#*=}" && busy+=("${item%%=*} port ${item#*=}")
  done
  ((${#busy[@]} == 0)) || die "already in use: ${busy[*]}. Another stack or a system service" \
    "(systemctl stop redis-server mosquitto) holds it; pick other ports or use --free-ports"
}

# valid_port N: a port number 0..65535 (0: pick a free one).
valid_port() { [[ $1 =~ ^[0-9]{1,5}$ ]] && ((10#$1 <= 65535)); }

# ensure_secret FILE: generates the HS256 secret on first start (mode 600) and keeps it, so tokens
# stay valid across restarts, as the data in Redis does.
ensure_secret() {
  if [[ ! -s $1 ]]; then
    log "generating the JWT secret $1"
    (umask 077 && openssl rand -hex 32 >"$1")
  fi
  chmod 600 "$1"
}

# broker_sanitizer_env PLUGIN_SO: sets the array broker_env to the `env ...` prefix mosquitto
# needs to load a sanitizer build's plugin (cmake -DCOURIER_SANITIZE=ON): the very libasan the
# plugin links, preloaded into the uninstrumented mosquitto. No leak check there: Debian's
# mosquitto 2.0.11 itself leaks subscription nodes (sub__add) at exit. Empty otherwise.
broker_sanitizer_env() {
  # shellcheck disable=SC2034  # the caller's
  broker_env=()
  local asan_runtime
  asan_runtime="$(ldd "$1" | awk '$1 ~ /^libasan\.so/ {print $3}')"
  if [[ -n $asan_runtime ]]; then
    # shellcheck disable=SC2034
    broker_env=(env "LD_PRELOAD=$asan_runtime"
      "ASAN_OPTIONS=halt_on_error=1:print_stacktrace=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}:detect_leaks=0")
    log "sanitizer build: mosquitto runs with $asan_runtime preloaded"
  fi
}

# ---------------------------------------------------------------------------------------------
# Components: each is our child, in its own session so that Ctrl-C reaches only the script,
# which then stops them in order.

alive() { [[ -n ${1:-} ]] && kill -0 "$1" 2>/dev/null; }

# start NAME COMMAND...: runs COMMAND in the background with its output in logs/NAME.log.
start() {
  local name="$1"
  shift
  logs[$name]="$log_dir/$name.log"
  {
    printf '\n===== %s: %s started by %s:' "$(date -Is)" "$name" "$COURIER_SCRIPT"
    printf ' %q' "$@"
    printf '\n'
  } >>"${logs[$name]}"
  # setsid execs in place (we are not a process group leader), so $! is the component's own
  # PID. env -u: the secret comes from the file only, the same one the broker plugin reads.
  setsid env -u COURIER_JWT_SECRET "$@" >>"${logs[$name]}" 2>&1 </dev/null &
  pids[$name]=$!
  order+=("$name")
  log "started $name (pid ${pids[$name]}), log ${logs[$name]}"
}

# forget NAME: a component that ended as it should (a one-off command) leaves the lists.
forget() {
  local name="$1" kept=() n
  for n in "${order[@]}"; do [[ $n == "$name" ]] || kept+=("$n"); done
  order=("${kept[@]}")
  unset "pids[$name]"
}

# "exited with status 1" or "was killed by SIGKILL", from a status as `wait` returns it.
describe_status() {
  if (($1 > 128)); then
    echo "was killed by SIG$(kill -l $(($1 - 128)) 2>/dev/null || echo "nal $(($1 - 128))")"
  else
    echo "exited with status $1"
  fi
}

show_log_tail() {
  local name="$1"
  printf -- '----- last lines of %s -----\n' "${logs[$name]}" >&2
  tail -n 25 "${logs[$name]}" >&2 || true
  printf -- '-----\n' >&2
}

# Stops the named components together: SIGTERM, then SIGKILL for any still up after the timeout.
stop_components() {
  local name pid deadline left
  for name in "$@"; do
    if alive "${pids[$name]:-}"; then kill -TERM "${pids[$name]}" 2>/dev/null || true; fi
  done
  deadline=$((SECONDS + stop_timeout))
  while ((SECONDS < deadline)); do
    left=0
    for name in "$@"; do alive "${pids[$name]:-}" && left=1; done
    ((left)) || break
    sleep 0.1
  done
  for name in "$@"; do
    pid="${pids[$name]:-}"
    [[ -n $pid ]] || continue
    if alive "$pid"; then
      warn "$name (pid $pid) did not stop within ${stop_timeout}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true  # reap; returns at once, the process is gone
    log "stopped $name"
  done
}

# started_matching PATTERN...: the started components whose names match a glob, in start order.
started_matching() {
  local name pattern
  for name in "${order[@]}"; do
    for pattern in "$@"; do
      # shellcheck disable=SC2053  # the pattern is a glob on purpose
      if [[ $name == $pattern ]]; then
        printf '%s\n' "$name"
        break
      fi
    done
  done
}

# check_alive NAME WHAT: if NAME has died, says how with the end of its log, and dies.
check_alive() {
  local name="$1" what="$2"
  alive "${pids[$name]}" && return 0
  local status=0
  wait "${pids[$name]}" 2>/dev/null || status=$?
  show_log_tail "$name"
  die "$name $(describe_status "$status") before it was ready ($what)"
}

# wait_ready NAMES WHAT CHECK...: polls CHECK every 0.1 s until it succeeds; fails if one of the
# components NAMES (several: separated by spaces) dies or the deadline passes, showing the end of
# its log. Every 10 s of waiting it says how long it has waited, of at most how long.
wait_ready() {
  local names=() what="$2" name
  read -r -a names <<<"$1"
  shift 2
  local start=$SECONDS deadline=$((SECONDS + ready_timeout)) next_note=$((SECONDS + 10))
  until "$@"; do
    for name in "${names[@]}"; do check_alive "$name" "$what"; done
    if ((SECONDS >= deadline)); then
      for name in "${names[@]}"; do show_log_tail "$name"; done
      die "${names[*]} not ready ($what) within ${ready_timeout}s"
    fi
    # Readiness has no measurable progress; what is known is the bound.
    if ((SECONDS >= next_note)); then
      log "still waiting for ${names[*]} ($what): $((SECONDS - start))s of at most ${ready_timeout}s"
      next_note=$((SECONDS + 10))
    fi
    sleep 0.1
  done
  if ((${#names[@]} == 1)); then
    log "${names[0]} is ready ($what)"
  else
    log "${names[*]} are ready ($what)"
  fi
}

on_signal() {
  trap '' INT TERM HUP  # a second Ctrl-C must not interrupt the orderly stop
  log "received SIG$1: stopping"
  stop_all
  log "all stopped after $(elapsed)"
  exit 0
}

# install_stop_traps: Ctrl-C, SIGTERM and SIGHUP stop everything and exit 0; any other exit (a
# failed start) stops what did start.
install_stop_traps() {
  trap 'on_signal INT' INT
  trap 'on_signal TERM' TERM
  trap 'on_signal HUP' HUP
  trap 'stop_all' EXIT
}

# watch_components: runs until a component exits. It was not asked to: report it, take the rest
# down and exit 1.
watch_components() {
  local name status
  while :; do
    for name in "${order[@]}"; do
      if ! alive "${pids[$name]}"; then
        status=0
        wait "${pids[$name]}" 2>/dev/null || status=$?
        printf '\n' >&2
        warn "$name (pid ${pids[$name]}) exited unexpectedly: $(describe_status "$status")"
        show_log_tail "$name"
        pids[$name]=""
        log "stopping the rest"
        stop_all
        exit 1
      fi
    done
    sleep 0.5
  done
}

# ---------------------------------------------------------------------------------------------
# The banner's walkthrough.

# print_walkthrough TOPIC_ROOT MQTT_HOST MQTT_PORT API [API2]
#   MQTT_HOST and MQTT_PORT empty: mosquitto_sub goes where bob's login answer says (several
#   brokers: each user has one). API2, a second uplink: registration and logins go to API, sends
#   and syncs to API2, as any uplink serves any request.
print_walkthrough() {
  local topic_root="$1" mqtt_host="$2" mqtt_port="$3" api="$4" api2="${5:-}"
  # shellcheck disable=SC2016  # $API is for the reader's shell
  local inbox="$topic_root/u/bob" a1='$API' a2='$API'
  local send_step="  # 4. Log alice in and send bob a message: the push appears at once (seq 1, from alice)."
  local api_lines="  API=$api"
  if [[ -n $api2 ]]; then
    # shellcheck disable=SC2016
    a1='$API1' a2='$API2'
    send_step="  # 4. Log alice in and send bob a message, through uplink 2: the push appears at once
  #    (seq 1, from alice)."
    api_lines="  API1=$api   # any uplink serves any request: the steps use both
  API2=$api2"
  fi
  local broker_step="  # 3. Watch bob's inbox as his phone would (runs in the background; pushes print here).
  mosquitto_sub -h $mqtt_host -p $mqtt_port -i 'bob:phone' -u bob -P \"\$BOB_TOKEN\" \\
       -t '$inbox' -q 1 -v &"
  if [[ -z $mqtt_host ]]; then
    broker_step="  # 3. Watch bob's inbox as his phone would, on the broker his login answer names
  #    (runs in the background; pushes print here).
  mosquitto_sub -h \"\$(jq -r .mqtt.host <<<\"\$BOB\")\" -p \"\$(jq -r .mqtt.port <<<\"\$BOB\")\" \\
       -i 'bob:phone' -u bob -P \"\$BOB_TOKEN\" -t '$inbox' -q 1 -v &"
  fi
  cat <<WALKTHROUGH
$api_lines

  # 1. Register two users.
  curl -sS -X POST "$a1/v1/users" -H 'Content-Type: application/json' \\
       -d '{"user_id":"alice","password":"alice-password"}'
  curl -sS -X POST "$a1/v1/users" -H 'Content-Type: application/json' \\
       -d '{"user_id":"bob","password":"bob-password"}'

  # 2. Log bob in on his phone; keep his token, look at the MQTT settings it gives.
  BOB=\$(curl -sS -X POST "$a1/v1/sessions" -H 'Content-Type: application/json' \\
       -d '{"user_id":"bob","password":"bob-password","device_id":"phone"}')
  BOB_TOKEN=\$(jq -r .token <<<"\$BOB")
  jq .mqtt <<<"\$BOB"

$broker_step

$send_step
  ALICE_TOKEN=\$(curl -sS -X POST "$a1/v1/sessions" -H 'Content-Type: application/json' \\
       -d '{"user_id":"alice","password":"alice-password","device_id":"laptop"}' | jq -r .token)
  curl -sS -X POST "$a2/v1/messages" -H "Authorization: Bearer \$ALICE_TOKEN" \\
       -H 'Content-Type: application/json' \\
       -d '{"to":"user:bob","cmid":"hello-1","body":{"text":"Hi Bob!"}}'

  # 5. What a device that was offline fetches: bob's inbox from the start.
  curl -sS "$a2/v1/sync?after=0" -H "Authorization: Bearer \$BOB_TOKEN" | jq .

  kill %1    # stop mosquitto_sub

WALKTHROUGH
}
