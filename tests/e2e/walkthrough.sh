#!/usr/bin/env bash
# End-to-end test: the walkthrough that scripts/run-stack prints (and the README shows), done as
# a user does it, with curl, jq and mosquitto_sub against a stack started by scripts/run-stack:
#   register alice and bob; log bob in; watch bob's inbox with mosquitto_sub; log alice in; send
#   alice -> bob; the push shows seq 1, from alice and the body; /v1/sync returns it too;
#   then the README's second block: a group message in bob's inbox, a room message on bob's
#   room subscription, a friend request accepted, the conversation list and a read mark;
#   SIGTERM stops run-stack with status 0 and leaves no process behind.
# Keep the steps in step with the banner in scripts/run-stack.
#
# Usage: tests/e2e/walkthrough.sh   (COURIER_BUILD_DIR: where the binaries are, default build/;
#                                    COURIER_KEEP_TEST_DIRS=1 keeps the data dir and logs)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build_dir="${COURIER_BUILD_DIR:-$root/build}"
t0=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/courier-e2e-XXXXXX")"
data_dir="$work/stack"
stack_out="$work/run-stack.out"
stack_pid=""
sub_pid=""
passed=false

say() { printf '[e2e %3ss] %s\n' "$((SECONDS - t0))" "$*"; }

show_logs() {
  printf '\n----- run-stack output (%s) -----\n' "$stack_out"
  tail -n 60 "$stack_out" 2>/dev/null || true
  local f
  for f in "$data_dir"/logs/*.log "$work"/sub.out; do
    [[ -f $f ]] || continue
    printf -- '----- %s -----\n' "$f"
    tail -n 30 "$f"
  done
}

fail() {
  printf '[e2e %3ss] FAILED: %s\n' "$((SECONDS - t0))" "$*" >&2
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
  local status=$?
  if [[ -n $sub_pid ]] && alive "$sub_pid"; then kill "$sub_pid" 2>/dev/null || true; fi
  if [[ -n $stack_pid ]] && alive "$stack_pid"; then
    kill -TERM "$stack_pid" 2>/dev/null || true
    wait_gone 30 "$stack_pid" || kill -KILL "$stack_pid" 2>/dev/null || true
  fi
  if [[ -n ${COURIER_KEEP_TEST_DIRS:-} ]] || ! $passed; then
    echo "e2e: data dir and logs kept in $work"
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT

for tool in curl jq mosquitto_sub; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (run scripts/setup)"
done

# ----- Start the stack, as the README says, on free ports and a data dir of our own.
say "starting scripts/run-stack --no-build --free-ports --data-dir $data_dir"
"$root/scripts/run-stack" --no-build --free-ports --build-dir "$build_dir" \
  --data-dir "$data_dir" >"$stack_out" 2>&1 &
stack_pid=$!

deadline=$((SECONDS + 90))
until [[ -f $data_dir/stack.env ]]; do
  alive "$stack_pid" || fail "run-stack exited before it was ready"
  ((SECONDS < deadline)) || fail "run-stack not ready within 90s"
  sleep 0.2
done
# shellcheck source=/dev/null
source "$data_dir/stack.env"
# The banner comes right after stack.env; give it a moment to be flushed.
for _ in $(seq 50); do grep -q 'Courier is ready' "$stack_out" && break; sleep 0.1; done
grep -q 'Courier is ready' "$stack_out" || fail "no 'Courier is ready' banner"
grep -q "mosquitto_sub -h $COURIER_MQTT_HOST -p $COURIER_MQTT_PORT" "$stack_out" ||
  fail "the banner's walkthrough does not name this stack's broker"
API="$COURIER_HTTP_URL"
say "stack ready: API $API, MQTT $COURIER_MQTT_HOST:$COURIER_MQTT_PORT"

# call METHOD PATH [BODY] [TOKEN]: the status code to stdout, the body to $work/body.
call() {
  local args=(-sS -o "$work/body" -w '%{http_code}' --max-time 10 -X "$1" "$API$2")
  if [[ -n ${3:-} ]]; then args+=(-H 'Content-Type: application/json' -d "$3"); fi
  if [[ -n ${4:-} ]]; then args+=(-H "Authorization: Bearer $4"); fi
  curl "${args[@]}" || echo "000"
}
# expect WANT METHOD PATH [BODY] [TOKEN]: fails unless the status is WANT; the body is in $work/body.
expect() {
  local want="$1" got
  shift
  got="$(call "$@")"
  [[ $got == "$want" ]] || fail "$1 $2: want $want, got $got: $(cat "$work/body" 2>/dev/null)"
}

# ----- 1. Register two users.
expect 201 POST /v1/users '{"user_id":"alice","password":"alice-password"}'
expect 201 POST /v1/users '{"user_id":"bob","password":"bob-password"}'
say "registered alice and bob"

# ----- 2. Log bob in on his phone.
expect 200 POST /v1/sessions '{"user_id":"bob","password":"bob-password","device_id":"phone"}'
BOB="$(cat "$work/body")"
BOB_TOKEN="$(jq -r .token <<<"$BOB")"
[[ -n $BOB_TOKEN && $BOB_TOKEN != null ]] || fail "no token in bob's login answer: $BOB"
jq -e --arg host "$COURIER_MQTT_HOST" --argjson port "$COURIER_MQTT_PORT" \
  '.mqtt.host == $host and .mqtt.port == $port and .mqtt.client_id == "bob:phone"
   and .mqtt.username == "bob" and .mqtt.topics.inbox == "courier/u/bob"' <<<"$BOB" >/dev/null ||
  fail "bob's mqtt block is not what the walkthrough uses: $(jq -c .mqtt <<<"$BOB")"
say "bob logged in; mqtt block $(jq -c '.mqtt | del(.password)' <<<"$BOB")"

# ----- 3. Watch bob's inbox. -C 1 -W 10 bound it; -d shows when the SUBACK is in, and stdbuf
# makes mosquitto_sub write each line to the file at once instead of buffering.
inbox="$COURIER_TOPIC_ROOT/u/bob"
stdbuf -oL mosquitto_sub -h "$COURIER_MQTT_HOST" -p "$COURIER_MQTT_PORT" -i 'bob:phone' -u bob \
  -P "$BOB_TOKEN" -t "$inbox" -q 1 -v -C 1 -W 10 -d >"$work/sub.out" 2>&1 &
sub_pid=$!
deadline=$((SECONDS + 10))
until grep -q '^Subscribed' "$work/sub.out"; do
  alive "$sub_pid" || fail "mosquitto_sub exited before subscribing"
  ((SECONDS < deadline)) || fail "mosquitto_sub did not subscribe within 10s"
  sleep 0.1
done
grep -q '^Subscribed (mid: [0-9]*): 1$' "$work/sub.out" ||
  fail "the broker did not grant bob's inbox at QoS 1: $(grep '^Subscribed' "$work/sub.out")"
say "mosquitto_sub is subscribed to $inbox"

# ----- 4. Log alice in and send bob a message.
expect 200 POST /v1/sessions '{"user_id":"alice","password":"alice-password","device_id":"laptop"}'
ALICE_TOKEN="$(jq -r .token "$work/body")"
expect 201 POST /v1/messages '{"to":"user:bob","cmid":"hello-1","body":{"text":"Hi Bob!"}}' \
  "$ALICE_TOKEN"
SENT="$(cat "$work/body")"
say "alice sent: $SENT"

# The push: mosquitto_sub -v prints "<topic> <payload>" and exits after one message.
wait_gone 15 "$sub_pid" || fail "mosquitto_sub still waiting for a push after 15s"
sub_status=0
wait "$sub_pid" || sub_status=$?
sub_pid=""
((sub_status == 0)) || fail "mosquitto_sub exited with $sub_status (27: no message within 10s)"
push="$(grep -m1 "^$inbox " "$work/sub.out" | cut -d' ' -f2-)"
[[ -n $push ]] || fail "mosquitto_sub printed no message on $inbox"
jq -e --argjson sent "$SENT" '.seq == 1 and .type == "message" and .from == "alice"
   and .to == "user:bob" and .body == {"text":"Hi Bob!"} and .id == $sent.id
   and .conv == "u:alice:bob" and .ts == $sent.ts' <<<"$push" >/dev/null ||
  fail "unexpected push: $push"
say "bob's phone got the push: $push"

# ----- 5. Sync: what a device that was offline fetches.
expect 200 GET '/v1/sync?after=0' '' "$BOB_TOKEN"
SYNC="$(cat "$work/body")"
jq -e --argjson push "$push" '(.items | length) == 1 and .items[0] == $push
   and .has_more == false and .next_after == 1' <<<"$SYNC" >/dev/null ||
  fail "unexpected sync answer: $SYNC"
say "bob's sync returns the same envelope"

# ----- 6. The README's second block: a group, a room, friends, the conversation list.
expect 201 POST /v1/groups '{"group_id":"team","name":"The team","members":["bob"]}' "$ALICE_TOKEN"
jq -e '.owner == "alice" and ([.members[].user_id] == ["alice","bob"])' "$work/body" >/dev/null ||
  fail "unexpected group: $(cat "$work/body")"
expect 201 POST /v1/messages '{"to":"group:team","cmid":"team-1","body":{"text":"Stand-up at ten"}}' \
  "$ALICE_TOKEN"
GROUP_SENT="$(cat "$work/body")"
# The downlink copies group messages into inboxes just after the send answers: poll briefly.
deadline=$((SECONDS + 10))
while :; do
  expect 200 GET '/v1/sync?after=1' '' "$BOB_TOKEN"
  jq -e '(.items | length) >= 2' "$work/body" >/dev/null && break
  ((SECONDS < deadline)) || fail "the group message is not in bob's inbox: $(cat "$work/body")"
  sleep 0.1
done
jq -e --argjson sent "$GROUP_SENT" '.items[0].seq == 2 and .items[0].event == "group.created"
   and .items[1].seq == 3 and .items[1].conv == "g:team" and .items[1].conv_seq == 1
   and .items[1].id == $sent.id' "$work/body" >/dev/null ||
  fail "unexpected group entries in bob's inbox: $(cat "$work/body")"
say "bob's inbox has group.created and the group message (conv_seq 1)"

expect 200 POST /v1/rooms/lobby/join '' "$BOB_TOKEN"
room_topic="$(jq -r .topic "$work/body")"
[[ $room_topic == "$COURIER_TOPIC_ROOT/r/lobby" ]] || fail "unexpected room topic: $room_topic"
stdbuf -oL mosquitto_sub -h "$COURIER_MQTT_HOST" -p "$COURIER_MQTT_PORT" -i 'bob:phone' -u bob \
  -P "$BOB_TOKEN" -t "$room_topic" -q 1 -v -C 1 -W 10 -d >"$work/room.out" 2>&1 &
sub_pid=$!
deadline=$((SECONDS + 10))
until grep -q '^Subscribed' "$work/room.out"; do
  alive "$sub_pid" || fail "mosquitto_sub (room) exited before subscribing"
  ((SECONDS < deadline)) || fail "mosquitto_sub did not subscribe to the room within 10s"
  sleep 0.1
done
grep -q '^Subscribed (mid: [0-9]*): 1$' "$work/room.out" ||
  fail "the broker did not grant bob the room: $(grep '^Subscribed' "$work/room.out")"
expect 200 POST /v1/rooms/lobby/join '' "$ALICE_TOKEN"
expect 201 POST /v1/messages '{"to":"room:lobby","cmid":"lobby-1","body":{"text":"Hello, lobby"}}' \
  "$ALICE_TOKEN"
wait_gone 15 "$sub_pid" || fail "mosquitto_sub still waiting for the room message after 15s"
sub_status=0
wait "$sub_pid" || sub_status=$?
sub_pid=""
((sub_status == 0)) || fail "mosquitto_sub (room) exited with $sub_status"
room_push="$(grep -m1 "^$room_topic " "$work/room.out" | cut -d' ' -f2-)"
jq -e '.room_seq == 1 and .from == "alice" and .body == {"text":"Hello, lobby"}' \
  <<<"$room_push" >/dev/null || fail "unexpected room push: $room_push"
say "bob's room subscription got: $room_push"

expect 201 POST /v1/friends/requests '{"to":"bob","note":"Hi Bob"}' "$ALICE_TOKEN"
expect 200 GET /v1/friends/requests '' "$BOB_TOKEN"
REQ="$(jq -r '.items[0].request_id' "$work/body")"
expect 204 POST "/v1/friends/requests/$REQ/accept" '' "$BOB_TOKEN"
expect 200 GET /v1/friends '' "$ALICE_TOKEN"
jq -e '[.items[].user_id] == ["bob"]' "$work/body" >/dev/null ||
  fail "alice's friends: $(cat "$work/body")"
say "alice and bob are friends"

expect 200 GET /v1/conversations '' "$BOB_TOKEN"
jq -e '[.items[] | {conv, unread}] == [{"conv":"g:team","unread":1},{"conv":"u:alice:bob","unread":1}]' \
  "$work/body" >/dev/null || fail "bob's conversations: $(cat "$work/body")"
expect 204 POST /v1/conversations/g:team/read '{"conv_seq":1}' "$BOB_TOKEN"
expect 200 GET /v1/conversations '' "$BOB_TOKEN"
jq -e '.items[0].unread == 0' "$work/body" >/dev/null ||
  fail "reading the group did not clear its count: $(cat "$work/body")"
say "bob's conversation list and read mark work"

# ----- 7. Ctrl-C (here SIGTERM) stops everything, status 0, nothing left.
pids=("$COURIER_REDIS_PID" "$COURIER_MOSQUITTO_PID" "$COURIER_UPLINK_PID" "$COURIER_DOWNLINK_PID")
kill -TERM "$stack_pid"
wait_gone 45 "$stack_pid" || fail "run-stack still running 45s after SIGTERM"
stack_status=0
wait "$stack_pid" || stack_status=$?
stack_pid=""
((stack_status == 0)) || fail "run-stack exited with $stack_status after SIGTERM"
for pid in "${pids[@]}"; do
  if alive "$pid"; then
    fail "process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline")) outlived run-stack"
  fi
done
[[ ! -e $data_dir/stack.env ]] || fail "stack.env left behind after a clean stop"
say "run-stack stopped cleanly (status 0), no process left"

# A sanitizer build's components print their reports into their logs and may leave no other trace.
if grep -q -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' \
  "$data_dir"/logs/*.log 2>/dev/null; then
  grep -A 40 -e 'ERROR: AddressSanitizer' -e 'ERROR: LeakSanitizer' -e 'runtime error:' \
    "$data_dir"/logs/*.log >&2 || true
  fail "sanitizer report in the stack's logs (above)"
fi

passed=true
say "PASSED"
