#include "tests/support/process.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace courier::testing {
namespace {

using Clock = std::chrono::steady_clock;

// Closes a file descriptor on scope exit (the parent's copies of the child's stdio).
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

// execve does not search PATH, and execvp is not async-signal-safe, so the program is resolved in
// the parent before fork().
std::string ResolveProgram(const std::string& program) {
  if (program.find('/') != std::string::npos) {
    return access(program.c_str(), X_OK) == 0 ? program : std::string();
  }
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    if (dir.empty()) dir = ".";
    std::string candidate = dir + "/" + program;
    if (access(candidate.c_str(), X_OK) == 0) return candidate;
    start = end + 1;
  }
  return {};
}

// The child's environment: ours, minus env_unset, with env_set applied on top.
std::vector<std::string> BuildEnvironment(const ChildSpec& spec) {
  std::map<std::string, std::string> vars;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string entry(*e);
    size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    vars[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  for (const std::string& name : spec.env_unset) vars.erase(name);
  for (const std::string& entry : spec.env_set) {
    size_t eq = entry.find('=');
    if (eq == std::string::npos) continue;
    vars[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  std::vector<std::string> out;
  out.reserve(vars.size());
  for (const auto& [name, value] : vars) out.push_back(name + "=" + value);
  return out;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Between fork() and exec() a multithreaded parent's child may only make async-signal-safe
// calls: no allocation, no locks, no stdio. Everything it needs was prepared before the fork.
[[noreturn]] void ExecChild(const char* program, char* const* argv, char* const* envp, int stdin_fd,
                            int log_fd, pid_t parent) {
  // Die with the test, and close the race where the parent died before prctl().
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) _exit(126);
  setpgid(0, 0);

  // Exec keeps ignored dispositions and the signal mask: a test runner that ignores SIGPIPE or
  // blocks SIGTERM must not hand that to the servers.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  for (int sig = 1; sig < NSIG; ++sig) sigaction(sig, &dfl, nullptr);  // fails for KILL/STOP
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, nullptr);

  dup2(stdin_fd, STDIN_FILENO);
  dup2(log_fd, STDOUT_FILENO);
  dup2(log_fd, STDERR_FILENO);
  // Descriptors the test holds (its MQTT and HTTP sockets above all) must not leak into the
  // servers: a leaked socket keeps a connection alive after the test closes its end.
  if (syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
    for (int fd = 3; fd < 4096; ++fd) close(fd);
  }
  execve(program, argv, envp);
  static const char kMsg[] = "ChildProcess: execve failed\n";
  ssize_t ignored = write(STDERR_FILENO, kMsg, sizeof(kMsg) - 1);
  (void)ignored;
  _exit(127);
}

std::string SignalName(int sig) {
  const char* name = strsignal(sig);
  return std::to_string(sig) + (name != nullptr ? std::string(" (") + name + ")" : "");
}

}  // namespace

ChildProcess::~ChildProcess() { Stop(); }

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : spec_(std::move(other.spec_)),
      pid_(other.pid_),
      reaped_(other.reaped_),
      exit_code_(other.exit_code_),
      term_signal_(other.term_signal_) {
  other.pid_ = -1;
  other.reaped_ = true;
}

ChildProcess& ChildProcess::operator=(ChildProcess&& other) noexcept {
  if (this != &other) {
    Stop();
    spec_ = std::move(other.spec_);
    pid_ = other.pid_;
    reaped_ = other.reaped_;
    exit_code_ = other.exit_code_;
    term_signal_ = other.term_signal_;
    other.pid_ = -1;
    other.reaped_ = true;
  }
  return *this;
}

Status ChildProcess::Start(const ChildSpec& spec) {
  if (Running()) {
    return Status::Internal("ChildProcess::Start: pid " + std::to_string(pid_) +
                            " is still running");
  }
  if (!reaped_) Reap();  // the previous process exited on its own: collect it
  if (spec.argv.empty()) return Status::Internal("ChildProcess::Start: empty argv");
  std::string program = ResolveProgram(spec.argv[0]);
  if (program.empty()) {
    return Status::Internal("ChildProcess::Start: " + spec.argv[0] +
                            " not found or not executable");
  }

  int stdin_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  FdCloser stdin_closer(stdin_fd);
  const std::string log = spec.log_path.empty() ? "/dev/null" : spec.log_path;
  int log_fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  FdCloser log_closer(log_fd);
  if (stdin_fd < 0 || log_fd < 0) {
    return Status::Internal("ChildProcess::Start: can't open " + log + ": " + strerror(errno));
  }
  // The log says what ran, so a failure message that quotes its tail is self-explanatory.
  std::string header = "\n===== ChildProcess starts:";
  for (const std::string& arg : spec.argv) header += " " + arg;
  header += "\n";
  ssize_t ignored = write(log_fd, header.data(), header.size());
  (void)ignored;

  std::vector<std::string> argv_strings = spec.argv;
  std::vector<std::string> env_strings = BuildEnvironment(spec);
  std::vector<char*> argv = CStrings(argv_strings);
  std::vector<char*> envp = CStrings(env_strings);
  pid_t parent = getpid();

  pid_t pid = fork();
  if (pid < 0) return Status::Internal(std::string("fork: ") + strerror(errno));
  if (pid == 0) ExecChild(program.c_str(), argv.data(), envp.data(), stdin_fd, log_fd, parent);

  // Also from the parent: the group exists before Start() returns, whichever runs first.
  setpgid(pid, pid);
  spec_ = spec;
  pid_ = pid;
  reaped_ = false;
  exit_code_.reset();
  term_signal_.reset();
  return Status::Ok();
}

bool ChildProcess::Exited() {
  if (reaped_) return true;
  if (exit_code_ || term_signal_) return true;
  siginfo_t info{};
  if (waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
    return errno == ECHILD;  // not our child any more: nothing to wait for
  }
  if (info.si_pid != pid_) return false;  // still running
  if (info.si_code == CLD_EXITED) {
    exit_code_ = info.si_status;
  } else {
    term_signal_ = info.si_status;
  }
  return true;
}

void ChildProcess::Reap() {
  // The group id is still ours while the leader is an unreaped zombie, so this kill cannot hit a
  // stranger; it takes down whatever the process forked.
  kill(-pid_, SIGKILL);
  kill(pid_, SIGKILL);  // in case it moved to another group
  int status = 0;
  pid_t r = waitpid(pid_, &status, 0);  // SIGKILL cannot be caught: returns promptly
  reaped_ = true;
  if (r == pid_ && !exit_code_ && !term_signal_) {
    if (WIFEXITED(status)) exit_code_ = WEXITSTATUS(status);
    if (WIFSIGNALED(status)) term_signal_ = WTERMSIG(status);
  }
}

bool ChildProcess::Running() { return pid_ > 0 && !Exited(); }

void ChildProcess::Stop(std::chrono::milliseconds timeout) {
  if (reaped_) return;
  if (!Exited()) {
    kill(pid_, SIGTERM);
    const auto deadline = Clock::now() + timeout;
    while (!Exited() && Clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  Reap();
}

void ChildProcess::Kill() {
  if (!reaped_) Reap();
}

bool ChildProcess::Signal(int signal) { return Running() && kill(pid_, signal) == 0; }

std::optional<int> ChildProcess::exit_code() {
  Exited();
  return exit_code_;
}

std::optional<int> ChildProcess::term_signal() {
  Exited();
  return term_signal_;
}

std::string ChildProcess::ExitDescription() {
  if (pid_ < 0) return "not started";
  if (Running()) return "running";
  if (exit_code_) return "exited with status " + std::to_string(*exit_code_);
  if (term_signal_) return "killed by signal " + SignalName(*term_signal_);
  return "ended (status unknown)";
}

std::string ChildProcess::LogTail(size_t lines) const {
  return spec_.log_path.empty() ? std::string() : FileTail(spec_.log_path, lines);
}

int FreePort() {
  static std::mutex mu;
  static std::set<int> handed_out;  // GUARDED_BY(mu)
  for (int attempt = 0; attempt < 100; ++attempt) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw std::runtime_error(std::string("FreePort: socket: ") + strerror(errno));
    FdCloser closer(fd);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) continue;
    socklen_t len = sizeof(addr);
    if (getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) continue;
    int port = ntohs(addr.sin_port);
    std::lock_guard<std::mutex> lock(mu);
    if (handed_out.insert(port).second) return port;
  }
  throw std::runtime_error("FreePort: no free port found in 100 attempts");
}

bool PortAcceptsConnections(const std::string& host, int port, std::chrono::milliseconds timeout) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return false;
  FdCloser closer(fd);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) return false;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) return true;
  if (errno != EINPROGRESS) return false;
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) != 1) return false;
  int err = 0;
  socklen_t len = sizeof(err);
  return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
}

std::string FileTail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  if (!in) return {};
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(std::move(line));
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out;
  for (const std::string& l : tail) out += l + "\n";
  return out;
}

}  // namespace courier::testing
