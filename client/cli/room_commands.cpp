// The CLI's room commands (commands.h): join, leave and send are one SDK call each; listen runs
// the SDK as a rooms-only client and prints what on_room_message delivers.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "client/cli/command_support.h"
#include "client/cli/commands.h"

namespace courier::client::cli {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

}  // namespace

int RunRoomJoin(const GlobalArgs& global, const DeviceArgs& device, const RoomArgs& args) {
  return RunAction(
      global, device, [&](Client& c) { return c.JoinRoom(args.room); },
      json{{"room_id", args.room}, {"joined", true}});
}

int RunRoomLeave(const GlobalArgs& global, const DeviceArgs& device, const RoomArgs& args) {
  return RunAction(
      global, device, [&](Client& c) { return c.LeaveRoom(args.room); },
      json{{"room_id", args.room}, {"left", true}});
}

int RunRoomSend(const GlobalArgs& global, const DeviceArgs& device, const RoomArgs& args,
                const SendArgs& send) {
  SendArgs to_room = send;
  to_room.to = "room:" + args.room;
  return RunSend(global, device, to_room);
}

int RunRoomListen(const GlobalArgs& global, const DeviceArgs& device, const RoomArgs& args) {
  StopSignals stop_signals;  // before the SDK starts its threads
  ClientOptions options = SdkOptions(global);
  options.inbox = false;  // the device's inbox and its cursor are `listen`'s
  Result<std::unique_ptr<Client>> opened = OpenSession(global, device, options);
  if (!opened.ok()) return Fail(opened.status());
  Client& client = **opened;

  std::atomic<int64_t> printed{0};
  std::atomic<bool> live{false};
  std::atomic<bool> kicked{false};
  std::atomic<bool> stdout_gone{false};
  client.on_room_message = [&](const json& envelope) {
    if (args.count > 0 && printed.load() >= args.count) return;
    if (!PrintLine(envelope)) {
      stdout_gone = true;
      client.Stop();
      return;
    }
    if (args.count > 0 && printed.fetch_add(1) + 1 >= args.count) client.Stop();
  };
  client.on_state = [&](ConnectionState state, const std::string& detail) {
    std::fprintf(stderr, "courier: %s: %s\n", ToString(state), detail.c_str());
    if (state == ConnectionState::kLive) live = true;
    if (state == ConnectionState::kKicked) kicked = true;
  };
  // Connected first, so that JoinRoom returns once the broker has confirmed the subscription (or
  // refused it): from then on, every message of the room is printed.
  const Clock::time_point started_at = Clock::now();
  auto seconds_left = [&] {
    if (args.timeout_s <= 0) return 0.0;  // no limit
    const double spent = std::chrono::duration<double>(Clock::now() - started_at).count();
    return std::max(args.timeout_s - spent, 0.001);
  };
  Status started = client.Start();
  if (!started.ok()) return Fail(started);
  StopSignals::Ending ending = stop_signals.Wait([&] { return live || kicked; }, seconds_left());
  if (ending == StopSignals::Ending::kDone && !kicked) {
    Status joined = client.JoinRoom(args.room);
    if (!joined.ok()) return Fail(joined);
    std::fprintf(stderr, "courier: listening to room %s\n", args.room.c_str());
    ending = stop_signals.Wait(
        [&] { return kicked || stdout_gone || (args.count > 0 && printed.load() >= args.count); },
        seconds_left());
  }
  const bool timed_out = ending == StopSignals::Ending::kTimeout;
  client.Stop();
  if (kicked) return Fail(Status::Unauthorized("the session has ended: log in again"));
  if (stdout_gone) return kExitFailed;
  if (timed_out && args.count > 0 && printed.load() < args.count) {
    std::fprintf(stderr, "courier: timed out after %g s with %lld of %lld room messages\n",
                 args.timeout_s, static_cast<long long>(printed.load()),
                 static_cast<long long>(args.count));
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace courier::client::cli
