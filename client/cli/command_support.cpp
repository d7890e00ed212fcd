#include "client/cli/command_support.h"

#include <pthread.h>

#include <chrono>
#include <cstdio>

#include "client/cli/session_file.h"

namespace courier::client::cli {

namespace {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::chrono::milliseconds kRequestTimeout{10000};

}  // namespace

int Fail(const Status& s) {
  std::fprintf(stderr, "courier: %s\n", s.ToString().c_str());
  return kExitFailed;
}

bool PrintLine(const json& j) {
  std::string line = j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
  return std::fwrite(line.data(), 1, line.size(), stdout) == line.size() &&
         std::fflush(stdout) == 0;
}

int PrintAnswer(const json& j) { return PrintLine(j) ? kExitOk : kExitFailed; }

ClientOptions SdkOptions(const GlobalArgs& global) {
  ClientOptions options;
  options.base_url = global.url;
  options.state_dir = global.state_dir;
  options.request_timeout = kRequestTimeout;
  return options;
}

Result<std::unique_ptr<Client>> OpenSession(const GlobalArgs& global, const DeviceArgs& device,
                                            const ClientOptions& options) {
  Result<LoginInfo> session = LoadSession(global.state_dir, device.user, device.device);
  if (!session.ok()) return session.status();
  auto client = std::make_unique<Client>(options);
  Status used = client->UseSession(*session);
  if (!used.ok()) return used;
  return client;
}

int RunAction(const GlobalArgs& global, const DeviceArgs& device,
              const std::function<Status(Client&)>& call, const json& done) {
  Result<std::unique_ptr<Client>> client = OpenSession(global, device, SdkOptions(global));
  if (!client.ok()) return Fail(client.status());
  Status s = call(**client);
  if (!s.ok()) return Fail(s);
  return PrintAnswer(done);
}

StopSignals::StopSignals() {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
}

StopSignals::Ending StopSignals::Wait(const std::function<bool()>& done, double timeout_s) {
  const bool has_deadline = timeout_s > 0;
  const Clock::time_point deadline =
      Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
  while (true) {
    if (done()) return Ending::kDone;
    if (has_deadline && Clock::now() >= deadline) return Ending::kTimeout;
    const timespec tick{0, 100 * 1000 * 1000};
    if (sigtimedwait(&signals_, nullptr, &tick) > 0) return Ending::kSignal;
  }
}

}  // namespace courier::client::cli
