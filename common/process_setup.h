// What every Courier process does before it serves: read its configuration (flags,
// environment, INI file), start logging, load the JWT secrets, and take the stop signals.
#pragma once

#include <signal.h>

#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "common/config.h"

namespace CLI {
class App;
}

namespace courier {

// Parses argv into `config` (its flags already added to `app`), starts logging as `process`,
// completes the configuration and returns the JWT secrets. On --help it prints and exits 0; on
// a bad flag or setting it says why and exits 2.
std::vector<std::string> LoadConfigOrExit(CLI::App& app, int argc, char** argv, Config* config,
                                          const std::string& process);

// The options of a listening HTTP socket (uplink API, downlink metrics): SO_REUSEADDR, so that a
// restart binds while the old connections are in TIME_WAIT, and not SO_REUSEPORT, which
// cpp-httplib sets by default: with it a second process on a port in use shares it silently
// (the kernel splits the connections between them) instead of failing with "address in use".
void SetListenSocketOptions(int fd);

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts later, so that one
// thread can wait for them with sigwait(); ignores SIGPIPE. Call before starting threads.
sigset_t BlockStopSignals();

// Calls `on_reload` on a thread of its own each time the process gets SIGHUP (how an operator
// tells a running process to re-read what it may re-read: the brokers file). Without it SIGHUP
// would end the process. Construct it before starting other threads, as BlockStopSignals(): it
// blocks SIGHUP in the calling thread, which threads started later inherit. The destructor
// stops the thread (within 200 ms) and joins it. Not copyable.
class ReloadOnSighup {
 public:
  explicit ReloadOnSighup(std::function<void()> on_reload);
  ~ReloadOnSighup();
  ReloadOnSighup(const ReloadOnSighup&) = delete;
  ReloadOnSighup& operator=(const ReloadOnSighup&) = delete;

 private:
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

}  // namespace courier
