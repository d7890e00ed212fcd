// Child processes for integration tests: the servers a test starts (redis-server, mosquitto, the
// Courier binaries) and stops, kills or restarts, and free loopback ports to run them on.
//
// A child never outlives the test: it runs in its own process group (so a kill reaches anything
// it forked, e.g. Redis's AOF rewrite) and gets SIGKILL from the kernel when the thread that
// started it dies (PR_SET_PDEATHSIG), even if the test crashes or is killed by CTest's timeout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace courier::testing {

struct ChildSpec {
  // argv[0] is the program: a path, or a name looked up in PATH. Must not be empty.
  std::vector<std::string> argv;
  // "NAME=value" entries added to (or replacing in) the test's own environment.
  std::vector<std::string> env_set;
  // Names removed from the inherited environment, e.g. COURIER_JWT_SECRET.
  std::vector<std::string> env_unset;
  // stdout and stderr are appended here (created if missing); empty means /dev/null.
  std::string log_path;
};

// One child process, owned: the destructor stops it (Stop()).
//
// REQUIRES: Start() is called on a thread that outlives the child (normally the test's main
// thread), because PR_SET_PDEATHSIG fires when the starting *thread* exits.
// Thread-safety: not thread-safe; one owner at a time. Movable, not copyable.
class ChildProcess {
 public:
  static constexpr std::chrono::milliseconds kDefaultStopTimeout{10000};

  ChildProcess() = default;
  ~ChildProcess();
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  // Forks and execs spec. Fails (Internal) if a process is still running here, the program is
  // not found, or the log can't be opened; an exec failure after the fork shows up as an exit
  // with status 127 and a line in the log.
  Status Start(const ChildSpec& spec);

  // True while the process runs (false once it has exited, even before it is reaped).
  bool Running();

  // SIGTERM, then SIGKILL to the whole process group if it is still up after `timeout`; then
  // reaps it. Returns at once when nothing runs. Afterwards ExitDescription() tells how it ended.
  void Stop(std::chrono::milliseconds timeout = kDefaultStopTimeout);

  // SIGKILL to the whole process group, then reap: the kill -9 of fault tests.
  void Kill();

  // Sends `signal` to the process (not its group), e.g. SIGSTOP/SIGCONT to freeze it. False if it
  // is not running.
  bool Signal(int signal);

  // The PID of the running (or last) process; -1 before the first Start().
  pid_t pid() const { return pid_; }
  const ChildSpec& spec() const { return spec_; }

  // How the last process ended: its exit code if it exited, the signal if one killed it; both
  // nullopt while it runs or before it started.
  std::optional<int> exit_code();
  std::optional<int> term_signal();
  // "running", "exited with status 1", "killed by signal 9 (Killed)", "not started".
  std::string ExitDescription();

  // The last `lines` lines of the log, for failure messages; "" without a log.
  std::string LogTail(size_t lines = 30) const;

 private:
  // True once the process has exited; records how. Leaves it a zombie, so that its PID (and
  // process group id) cannot be reused before Reap() has killed the rest of the group.
  bool Exited();
  // SIGKILL to the group, then a blocking waitpid. REQUIRES: started and not yet reaped.
  void Reap();

  ChildSpec spec_;
  pid_t pid_ = -1;
  bool reaped_ = true;  // no process of ours to wait for
  std::optional<int> exit_code_;
  std::optional<int> term_signal_;
};

// A TCP port on 127.0.0.1 that was free a moment ago: the kernel picks it (bind to port 0) and
// the socket is closed again. Ports handed out by this process are not handed out twice, so the
// ports of one test stack differ from one another. Another process can still take the port before
// the server binds it (rare: the kernel picks among ~28000); TestStack retries a failed start on
// new ports. Aborts the test (throws std::runtime_error) if no socket can be bound at all.
// Thread-safe.
int FreePort();

// True if something accepts TCP connections on host:port within `timeout`.
bool PortAcceptsConnections(const std::string& host, int port,
                            std::chrono::milliseconds timeout = std::chrono::milliseconds(500));

// The last `lines` lines of a text file ("" if it can't be read).
std::string FileTail(const std::string& path, size_t lines);

}  // namespace courier::testing
