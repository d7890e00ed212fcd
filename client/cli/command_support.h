// What the CLI's subcommands share: printing answers and errors, the SDK's options, a client
// acting as a saved session, one-shot calls, and waiting for the end of a listen.
//
// Thread-safety: for the CLI's main thread (StopSignals::Wait), and the SDK's event thread for
// PrintLine from a callback.
#pragma once

#include <signal.h>

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "client/cli/commands.h"
#include "client/courier_client.h"
#include "common/status.h"

namespace courier::client::cli {

// Prints "courier: <code>: <message>" on stderr; kExitFailed.
int Fail(const Status& s);

// One line of compact JSON on stdout, flushed at once (a script reads it as it comes). False if
// stdout is gone (a closed pipe).
bool PrintLine(const nlohmann::json& j);
// PrintLine, as an exit code.
int PrintAnswer(const nlohmann::json& j);

// The SDK's options for the CLI: the uplink and state dir of `global`, a 10 s request timeout.
ClientOptions SdkOptions(const GlobalArgs& global);

// A client acting as the saved session of `device` (not started). NotFound ("not logged in ...")
// without one.
Result<std::unique_ptr<Client>> OpenSession(const GlobalArgs& global, const DeviceArgs& device,
                                            const ClientOptions& options);

// One call of the SDK that answers a Result, as `device`: prints `print(value)`, or fails with
// the error.
template <typename Call, typename Print>
int RunQuery(const GlobalArgs& global, const DeviceArgs& device, Call call, Print print) {
  Result<std::unique_ptr<Client>> client = OpenSession(global, device, SdkOptions(global));
  if (!client.ok()) return Fail(client.status());
  auto r = call(**client);
  if (!r.ok()) return Fail(r.status());
  return PrintAnswer(print(*r));
}

// One call of the SDK that answers a Status, as `device`: prints `done` when it succeeds.
int RunAction(const GlobalArgs& global, const DeviceArgs& device,
              const std::function<Status(Client&)>& call, const nlohmann::json& done);

// SIGINT and SIGTERM, for a command that runs until stopped. The constructor blocks them in the
// calling thread: make it before the SDK starts its threads, which inherit the mask and so never
// take them; Wait takes them.
class StopSignals {
 public:
  StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  enum class Ending { kDone, kSignal, kTimeout };
  // Polls `done` every 100 ms until it is true (kDone), SIGINT or SIGTERM comes (kSignal), or
  // `timeout_s` seconds pass (kTimeout; 0 waits without a limit).
  Ending Wait(const std::function<bool()>& done, double timeout_s);

 private:
  sigset_t signals_;
};

}  // namespace courier::client::cli
