#!/usr/bin/env bash
# End-to-end test: the walkthrough that scripts/cluster prints, done as a user does it, with curl,
# jq and mosquitto_sub against a cluster started by scripts/cluster (6 Redis Cluster nodes,
# 3 brokers, 2 uplinks, 2 downlinks):
#   register alice and bob on uplink 1; log bob in there; watch bob's inbox with mosquitto_sub on
#   the broker his login answer names; log alice in on uplink 2 and send alice -> bob there; the
#   push shows seq 1, from alice; /v1/sync on either uplink returns it; bob's token is refused by
#   a broker that is not his; a user on another broker than bob's gets bob's message on that
#   broker; a room message reaches members on two brokers, a group message both inboxes;
#   the delivery shards are leased by both downlinks;
#   SIGTERM stops scripts/cluster with status 0 and leaves no process behind; started again on
#   the same data directory, the Redis Cluster rejoins (not re-created) with the data kept.
# Keep the steps in step with the banner (print_walkthrough in scripts/lib/stack.sh).
#
# Usage: tests/e2e/cluster_walkthrough.sh   (COURIER_BUILD_DIR: where the binaries are, default
#                                            build/; COURIER_KEEP_TEST_DIRS=1 keeps the data dir
#                                            and logs)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build_dir="${COURIER_BUILD_DIR:-$root/build}"
t0=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/courier-e2e-cluster-XXXXXX")"
data_dir="$work/cluster"
stack_out="$work/cluster.out"
stack_pid=""
sub_pids=()
passed=false

say() { printf '[e2e-cluster %3ss] %s\n' "$((SECONDS - t0))" "$*"; }

show_logs() {
  printf '\n----- scripts/cluster output (%s) -----\n' "$stack_out"
  tail -n 80 "$stack_out" 2>/dev/null || true
  local f
  for f in "$data_dir"/logs/*.log "$work"/*.sub; do
    [[ -f $f ]] || continue
    printf -- '----- %s -----\n' "$f"
    tail -n 20 "$f"
  done
}

fail() {
  printf '[e2e-cluster %3ss] FAILED: %s\n' "$((SECONDS - t0))" "$*" >&2
  show_logs >&2
  exit 1
}

# True while the process runs (a zombie does not count).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  [[ $(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

# Waits up to $1 seconds for process $2 to end.
wait_gone() {
  local deadline=$((SECONDS + $1))
  while alive "$2" && ((SECONDS < deadline)); do sleep 0.1; done
  ! alive "$2"
}

cleanup() {
  local status=$? pid
  for pid in "${sub_pids[@]}"; do
    if alive "$pid"; then kill "$pid" 2>/dev/null || true; fi
  done
  if [[ -n $stack_pid ]] && alive "$stack_pid"; then
    kill -TERM "$stack_pid" 2>/dev/null || true
    wait_gone 45 "$stack_pid" || kill -KILL "$stack_pid" 2>/dev/null || true
  fi
  if [[ -n ${COURIER_KEEP_TEST_DIRS:-} ]] || ! $passed; then
    echo "e2e: data dir and logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT

for tool in curl jq mosquitto_sub redis-cli; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (run scripts/setup)"
done

# start_cluster: scripts/cluster as the README says, on free ports and a data dir of our own;
# returns once stack.env is written and the banner printed, with stack.env sourced.
start_cluster() {
  say "starting scripts/cluster --no-build --free-ports --data-dir $data_dir"
  "$root/scripts/cluster" --no-build --free-ports --build-dir "$build_dir" \
    --data-dir "$data_dir" >"$stack_out" 2>&1 &
  stack_pid=$!
  local deadline=$((SECONDS + 180))
  until [[ -f $data_dir/stack.env ]]; do
    alive "$stack_pid" || fail "scripts/cluster exited before it was ready"
    ((SECONDS < deadline)) || fail "scripts/cluster not ready within 180s"
    sleep 0.2
  done
  # shellcheck source=/dev/null
  source "$data_dir/stack.env"
  # The banner comes right after stack.env; give it a moment to be flushed.
  for _ in $(seq 50); do grep -q '^  kill %1' "$stack_out" && break; sleep 0.1; done
  grep -q 'Courier cluster is ready' "$stack_out" || fail "no 'Courier cluster is ready' banner"
  read -r -a APIS <<<"$COURIER_HTTP_URLS"
  API1="${APIS[0]}" API2="${APIS[1]:-}"
  read -r -a BROKER_PORTS <<<"$COURIER_MQTT_PORTS"
  read -r -a REDIS_PORTS <<<"$COURIER_REDIS_PORTS"
  read -r -a STACK_PIDS <<<"$COURIER_PIDS"
  ((${#APIS[@]} == 2 && ${#BROKER_PORTS[@]} == 3 && ${#REDIS_PORTS[@]} == 6)) ||
    fail "stack.env: want 2 uplinks, 3 brokers, 6 Redis nodes: $COURIER_HTTP_URLS;" \
      "$COURIER_MQTT_PORTS; $COURIER_REDIS_PORTS"
  ((${#STACK_PIDS[@]} == 13)) || fail "stack.env names ${#STACK_PIDS[@]} processes, not 13"
  local url
  for url in "${APIS[@]}"; do
    grep -qF "$url" "$stack_out" || fail "the banner does not show $url"
  done
  say "cluster ready: uplinks ${APIS[*]}, brokers ${BROKER_PORTS[*]}, Redis ${REDIS_PORTS[*]}"
}

# stop_cluster: SIGTERM, as Ctrl-C; status 0, every process it started gone, stack.env removed.
stop_cluster() {
  kill -TERM "$stack_pid"
  wait_gone 60 "$stack_pid" || fail "scripts/cluster still running 60s after SIGTERM"
  local status=0 pid
  wait "$stack_pid" || status=$?
  stack_pid=""
  ((status == 0)) || fail "scripts/cluster exited with $status after SIGTERM"
  for pid in "${STACK_PIDS[@]}"; do
    if alive "$pid"; then
      fail "process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")) outlived scripts/cluster"
    fi
  done
  [[ ! -e $data_dir/stack.env ]] || fail "stack.env left behind after a clean stop"
  say "scripts/cluster stopped cleanly (status 0), none of its ${#STACK_PIDS[@]} processes left"
}

# call URL METHOD PATH [BODY] [TOKEN]: the status code to stdout, the body to $work/body.
call() {
  local args=(-sS -o "$work/body" -w '%{http_code}' --max-time 10 -X "$2" "$1$3")
  if [[ -n ${4:-} ]]; then args+=(-H 'Content-Type: application/json' -d "$4"); fi
  if [[ -n ${5:-} ]]; then args+=(-H "Authorization: Bearer $5"); fi
  curl "${args[@]}" || echo "000"
}
# expect WANT URL METHOD PATH [BODY] [TOKEN]: fails unless the status is WANT; body in $work/body.
expect() {
  local want="$1" got
  shift
  got="$(call "$@")"
  [[ $got == "$want" ]] || fail "$2 $1$3: want $want, got $got: $(cat "$work/body" 2>/dev/null)"
}

# login URL USER DEVICE: logs in; sets LOGIN (the answer), TOKEN, and BROKER (host:port of the
# user's broker, from the mqtt block), checking the block names one of our brokers.
login() {
  expect 200 "$1" POST /v1/sessions "{\"user_id\":\"$2\",\"password\":\"$2-password\",\"device_id\":\"$3\"}"
  LOGIN="$(cat "$work/body")"
  TOKEN="$(jq -r .token <<<"$LOGIN")"
  [[ -n $TOKEN && $TOKEN != null ]] || fail "no token in $2's login answer: $LOGIN"
  local port
  port="$(jq -r .mqtt.port <<<"$LOGIN")"
  jq -e --arg host "$COURIER_MQTT_HOST" --arg cid "$2:$3" --arg user "$2" \
    --arg inbox "$COURIER_TOPIC_ROOT/u/$2" \
    '.mqtt.host == $host and .mqtt.client_id == $cid and .mqtt.username == $user
     and .mqtt.topics.inbox == $inbox' <<<"$LOGIN" >/dev/null ||
    fail "$2's mqtt block is not what the walkthrough uses: $(jq -c '.mqtt | del(.password)' <<<"$LOGIN")"
  [[ " ${BROKER_PORTS[*]} " == *" $port "* ]] ||
    fail "$2's mqtt block names port $port, not one of the brokers ${BROKER_PORTS[*]}"
  BROKER="$(jq -r '.mqtt.host + ":" + (.mqtt.port | tostring)' <<<"$LOGIN")"
}

# subscribe NAME HOST:PORT CLIENT_ID USER TOKEN TOPIC: mosquitto_sub in the background, output in
# $work/NAME.sub, until its SUBACK grants QoS 1; sets SUB_PID. -C 1 -W 15 bound it; -d shows the
# SUBACK, and stdbuf makes it write each line at once.
subscribe() {
  local out="$work/$1.sub"
  stdbuf -oL mosquitto_sub -h "${2%:*}" -p "${2##*:}" -i "$3" -u "$4" -P "$5" -t "$6" -q 1 -v \
    -C 1 -W 15 -d >"$out" 2>&1 &
  SUB_PID=$!
  sub_pids+=("$SUB_PID")
  local deadline=$((SECONDS + 10))
  until grep -q '^Subscribed' "$out"; do
    alive "$SUB_PID" || fail "mosquitto_sub ($1) exited before subscribing: $(cat "$out")"
    ((SECONDS < deadline)) || fail "mosquitto_sub ($1) did not subscribe within 10s"
    sleep 0.1
  done
  grep -q '^Subscribed (mid: [0-9]*): 1$' "$out" ||
    fail "the broker did not grant $6 at QoS 1: $(grep '^Subscribed' "$out")"
}

# received NAME PID TOPIC: waits for mosquitto_sub to get its one message; prints the payload.
# Called in $(...): the subshell is not mosquitto_sub's parent, so `wait` cannot give its exit
# status (bash answers 127 or -1 when it ended after the subshell began). Its output says what
# happened instead: the message it printed, or its "Timed out" (-W 15) or error.
received() {
  local out="$work/$1.sub"
  wait_gone 20 "$2" || fail "mosquitto_sub ($1) still waiting for a message after 20s"
  local payload
  payload="$(grep -m1 "^$3 " "$out" | cut -d' ' -f2-)"
  [[ -n $payload ]] || fail "mosquitto_sub ($1) printed no message on $3 within 15s: $(tail -n 5 "$out")"
  printf '%s\n' "$payload"
}

# ================================================================================================
start_cluster
# shellcheck disable=SC2016  # the banner's text, for the reader's shell
grep -qF 'mosquitto_sub -h "$(jq -r .mqtt.host <<<"$BOB")" -p "$(jq -r .mqtt.port <<<"$BOB")"' \
  "$stack_out" || fail "the banner's walkthrough does not take bob's broker from his login answer"

# The Redis Cluster: every node ok, 3 masters and 3 replicas.
masters=0
for p in "${REDIS_PORTS[@]}"; do
  redis-cli -h "$COURIER_REDIS_HOST" -p "$p" cluster info | grep -q '^cluster_state:ok' ||
    fail "Redis node $p: cluster_state not ok"
  [[ $(redis-cli -h "$COURIER_REDIS_HOST" -p "$p" role | head -n 1) == master ]] &&
    masters=$((masters + 1))
done
((masters == 3)) || fail "want 3 Redis masters and 3 replicas, got $masters masters"
grep -q 'creating the Redis Cluster' "$stack_out" || fail "the first start did not create the cluster"
say "Redis Cluster: cluster_state:ok on all 6 nodes, 3 masters"

# ----- 1. Register two users, on uplink 1.
expect 201 "$API1" POST /v1/users '{"user_id":"alice","password":"alice-password"}'
expect 201 "$API1" POST /v1/users '{"user_id":"bob","password":"bob-password"}'
say "registered alice and bob on uplink 1"

# ----- 2. Log bob in on his phone, on uplink 1.
login "$API1" bob phone
BOB="$LOGIN" BOB_TOKEN="$TOKEN" BOB_BROKER="$BROKER"
say "bob logged in; mqtt block $(jq -c '.mqtt | del(.password)' <<<"$BOB")"

# ----- 3. Watch bob's inbox on his broker, as the walkthrough does.
inbox="$COURIER_TOPIC_ROOT/u/bob"
subscribe bob-inbox "$BOB_BROKER" bob:phone bob "$BOB_TOKEN" "$inbox"
sub_pid="$SUB_PID"
say "mosquitto_sub is subscribed to $inbox on bob's broker $BOB_BROKER"

# ----- 4. Log alice in and send bob a message, on uplink 2.
login "$API2" alice laptop
ALICE_TOKEN="$TOKEN" ALICE_BROKER="$BROKER"
expect 201 "$API2" POST /v1/messages '{"to":"user:bob","cmid":"hello-1","body":{"text":"Hi Bob!"}}' \
  "$ALICE_TOKEN"
SENT="$(cat "$work/body")"
say "alice (broker $ALICE_BROKER) sent through uplink 2: $SENT"
push="$(received bob-inbox "$sub_pid" "$inbox")"
jq -e --argjson sent "$SENT" '.seq == 1 and .type == "message" and .from == "alice"
   and .to == "user:bob" and .body == {"text":"Hi Bob!"} and .id == $sent.id
   and .conv == "u:alice:bob" and .ts == $sent.ts' <<<"$push" >/dev/null ||
  fail "unexpected push: $push"
say "bob's phone got the push on $BOB_BROKER: $push"

# ----- 5. Sync, on either uplink: the same envelope.
for api in "$API2" "$API1"; do
  expect 200 "$api" GET '/v1/sync?after=0' '' "$BOB_TOKEN"
  jq -e --argjson push "$push" '(.items | length) == 1 and .items[0] == $push
     and .has_more == false and .next_after == 1' "$work/body" >/dev/null ||
    fail "unexpected sync answer from $api: $(cat "$work/body")"
done
say "bob's sync returns the same envelope on both uplinks"

# ----- A broker that is not bob's refuses him (the device would ask GET /v1/mqtt).
for p in "${BROKER_PORTS[@]}"; do
  [[ $COURIER_MQTT_HOST:$p == "$BOB_BROKER" ]] && continue
  wrong_status=0
  mosquitto_sub -h "$COURIER_MQTT_HOST" -p "$p" -i bob:phone -u bob -P "$BOB_TOKEN" -t "$inbox" \
    -q 1 -C 1 -W 5 >"$work/wrong-broker.sub" 2>&1 || wrong_status=$?
  if ((wrong_status == 0)) || ! grep -qi 'not authori' "$work/wrong-broker.sub"; then
    fail "broker $p did not refuse bob (status $wrong_status): $(cat "$work/wrong-broker.sub")"
  fi
  break
done
expect 200 "$API2" GET /v1/mqtt '' "$BOB_TOKEN"
jq -e --argjson login "$BOB" '.host == $login.mqtt.host and .port == $login.mqtt.port' \
  "$work/body" >/dev/null || fail "GET /v1/mqtt on uplink 2 names another broker: $(cat "$work/body")"
say "broker $p refuses bob ($(grep -im1 'not authori' "$work/wrong-broker.sub"));" \
  "GET /v1/mqtt on uplink 2 names $BOB_BROKER too"

# ----- A user on another broker than bob's. Rendezvous hashing over free ports: try names until
# one lands elsewhere (each does with probability 2/3).
other=""
for name in carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy; do
  expect 201 "$API2" POST /v1/users "{\"user_id\":\"$name\",\"password\":\"$name-password\"}"
  login "$API2" "$name" tablet
  if [[ $BROKER != "$BOB_BROKER" ]]; then
    other="$name" OTHER_TOKEN="$TOKEN" OTHER_BROKER="$BROKER"
    break
  fi
done
[[ -n $other ]] || fail "no user landed on another broker than bob's $BOB_BROKER"
other_device=tablet
other_inbox="$COURIER_TOPIC_ROOT/u/$other"
subscribe other-inbox "$OTHER_BROKER" "$other:$other_device" "$other" "$OTHER_TOKEN" "$other_inbox"
sub_pid="$SUB_PID"
expect 201 "$API1" POST /v1/messages "{\"to\":\"user:$other\",\"cmid\":\"x-1\",\"body\":{\"text\":\"Hi from bob\"}}" \
  "$BOB_TOKEN"
other_push="$(received other-inbox "$sub_pid" "$other_inbox")"
jq -e --arg to "user:$other" '.type == "message" and .from == "bob" and .to == $to
   and .body == {"text":"Hi from bob"}' <<<"$other_push" >/dev/null ||
  fail "unexpected push to $other: $other_push"
say "$other (broker $OTHER_BROKER) got bob's (broker $BOB_BROKER) message: $other_push"

# ----- A room with members on two brokers: the message reaches both.
expect 200 "$API1" POST /v1/rooms/lobby/join '' "$BOB_TOKEN"
room_topic="$(jq -r .topic "$work/body")"
[[ $room_topic == "$COURIER_TOPIC_ROOT/r/lobby" ]] || fail "unexpected room topic: $room_topic"
expect 200 "$API2" POST /v1/rooms/lobby/join '' "$OTHER_TOKEN"
subscribe bob-room "$BOB_BROKER" bob:phone bob "$BOB_TOKEN" "$room_topic"
bob_room_pid="$SUB_PID"
subscribe other-room "$OTHER_BROKER" "$other:$other_device" "$other" "$OTHER_TOKEN" "$room_topic"
other_room_pid="$SUB_PID"
expect 200 "$API2" POST /v1/rooms/lobby/join '' "$ALICE_TOKEN"
expect 201 "$API2" POST /v1/messages '{"to":"room:lobby","cmid":"lobby-1","body":{"text":"Hello, lobby"}}' \
  "$ALICE_TOKEN"
for who in bob-room:$bob_room_pid other-room:$other_room_pid; do
  room_push="$(received "${who%%:*}" "${who##*:}" "$room_topic")"
  jq -e '.room_seq == 1 and .from == "alice" and .body == {"text":"Hello, lobby"}' \
    <<<"$room_push" >/dev/null || fail "unexpected room push (${who%%:*}): $room_push"
done
say "the room message reached bob on $BOB_BROKER and $other on $OTHER_BROKER"

# ----- A group with members on two brokers: the downlinks copy the message into both inboxes.
expect 201 "$API1" POST /v1/groups \
  "{\"group_id\":\"team\",\"name\":\"The team\",\"members\":[\"bob\",\"$other\"]}" "$ALICE_TOKEN"
expect 201 "$API2" POST /v1/messages '{"to":"group:team","cmid":"team-1","body":{"text":"Stand-up at ten"}}' \
  "$ALICE_TOKEN"
GROUP_SENT="$(cat "$work/body")"
for who in "bob:$BOB_TOKEN" "$other:$OTHER_TOKEN"; do
  user="${who%%:*}" token="${who#*:}"
  deadline=$((SECONDS + 15))
  while :; do
    expect 200 "$API1" GET '/v1/sync?after=0&limit=100' '' "$token"
    jq -e --argjson sent "$GROUP_SENT" 'any(.items[]; .id == $sent.id and .conv == "g:team")' \
      "$work/body" >/dev/null && break
    ((SECONDS < deadline)) || fail "the group message is not in $user's inbox: $(cat "$work/body")"
    sleep 0.2
  done
done
say "the group message is in bob's and $other's inboxes"

# ----- The two downlinks share the delivery shards by lease.
owners=""
for ((s = 0; s < COURIER_DELIVERY_SHARDS; s++)); do
  owners+="$(redis-cli -c -h "$COURIER_REDIS_HOST" -p "${REDIS_PORTS[0]}" get "{dq:$s}:owner") "
done
[[ $owners == *downlink-1* && $owners == *downlink-2* ]] ||
  fail "delivery shard owners: $owners(want both downlink-1 and downlink-2)"
say "delivery shards 0..$((COURIER_DELIVERY_SHARDS - 1)) leased by: $owners"

# ----- Ctrl-C (here SIGTERM) stops everything, status 0, nothing left.
stop_cluster

# ----- Started again on the same data: the nodes rejoin from nodes.conf; the data is there.
start_cluster
grep -q 'rejoining the Redis Cluster' "$stack_out" || fail "the second start did not rejoin"
! grep -q 'creating the Redis Cluster' "$stack_out" || fail "the second start re-created the cluster"
login "$API2" bob phone
expect 200 "$API1" GET '/v1/sync?after=0&limit=1' '' "$TOKEN"
jq -e --argjson push "$push" '.items[0] == $push' "$work/body" >/dev/null ||
  fail "bob's inbox after the restart: $(cat "$work/body")"
say "restarted: the cluster rejoined, bob logs in and his first message is still there"
stop_cluster

# A sanitizer build's components print their reports into their logs and may leave no other trace.
if grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' \
  "$data_dir"/logs/*.log 2>/dev/null; then
  grep -A 40 -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' \
    "$data_dir"/logs/*.log >&2 || true
  fail "sanitizer report in the cluster's logs (above)"
fi

passed=true
say "PASSED"
