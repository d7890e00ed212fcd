// Tests of tests/support itself, with plain programs (sh, redis-server) instead of Courier's
// binaries: what the fault tests rely on must work before they can mean anything.
#include <doctest/doctest.h>
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/process.h"
#include "tests/support/test_stack.h"

namespace courier::testing {
namespace {

using namespace std::chrono_literals;

std::string TempLog(const char* name) {
  return (std::filesystem::temp_directory_path() /
          (std::string("courier-harness-") + std::to_string(getpid()) + "-" + name + ".log"))
      .string();
}

// Live (not zombie) processes in process group `pgid`, from /proc. Zombies don't count: an
// orphan's is reaped by PID 1 whenever that gets to it.
int LiveProcessesInGroup(pid_t pgid) {
  int n = 0;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    std::ifstream in(entry.path() / "stat");
    std::string line;
    if (!std::getline(in, line)) continue;
    // pid (comm) state ppid pgrp ...; comm may hold spaces, so parse after the last ')'.
    size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(line.substr(close + 1));
    char state = 0;
    long ppid = 0, pgrp = 0;
    rest >> state >> ppid >> pgrp;
    if (pgrp == pgid && state != 'Z') ++n;
  }
  return n;
}

TEST_CASE("ChildProcess reports how a child ended and logs its output") {
  const std::string log = TempLog("exit");
  ChildProcess p;
  REQUIRE(p.Start({{"sh", "-c", "echo hello from the child; exit 3"}, {}, {}, log}).ok());
  for (int i = 0; i < 200 && p.Running(); ++i) std::this_thread::sleep_for(10ms);
  CHECK_FALSE(p.Running());
  CHECK(p.exit_code() == 3);
  CHECK(p.ExitDescription() == "exited with status 3");
  CHECK(p.LogTail(5).find("hello from the child") != std::string::npos);
  std::filesystem::remove(log);
}

TEST_CASE("ChildProcess passes environment changes") {
  const std::string log = TempLog("env");
  setenv("COURIER_HARNESS_DROP", "x", 1);
  ChildProcess p;
  ChildSpec spec{{"sh", "-c", "echo \"[$COURIER_HARNESS_SET][${COURIER_HARNESS_DROP:-unset}]\""},
                 {"COURIER_HARNESS_SET=yes"},
                 {"COURIER_HARNESS_DROP"},
                 log};
  REQUIRE(p.Start(spec).ok());
  for (int i = 0; i < 200 && p.Running(); ++i) std::this_thread::sleep_for(10ms);
  CHECK(p.LogTail(1) == "[yes][unset]\n");
  unsetenv("COURIER_HARNESS_DROP");
  std::filesystem::remove(log);
}

TEST_CASE("ChildProcess::Stop escalates to SIGKILL for a child that ignores SIGTERM") {
  ChildProcess p;
  // The child and the process it forks both ignore TERM; the group kill must take both.
  REQUIRE(p.Start({{"sh", "-c", "trap '' TERM; sleep 60 & wait"}, {}, {}, ""}).ok());
  std::this_thread::sleep_for(200ms);
  const pid_t pgid = p.pid();
  const auto t0 = std::chrono::steady_clock::now();
  p.Stop(300ms);
  CHECK(std::chrono::steady_clock::now() - t0 < 5s);
  CHECK_FALSE(p.Running());
  CHECK(p.term_signal() == SIGKILL);
  int live = 1;
  for (int i = 0; i < 100 && live > 0; ++i) {  // SIGKILL is delivered asynchronously
    live = LiveProcessesInGroup(pgid);
    if (live > 0) std::this_thread::sleep_for(20ms);
  }
  CHECK(live == 0);  // the forked `sleep` went too
}

TEST_CASE("ChildProcess::Kill and a failed exec") {
  ChildProcess p;
  REQUIRE(p.Start({{"sleep", "60"}, {}, {}, ""}).ok());
  CHECK(p.Running());
  p.Kill();
  CHECK(p.term_signal() == SIGKILL);
  CHECK_FALSE(p.Start({{"/nonexistent/program"}, {}, {}, ""}).ok());
}

TEST_CASE("FreePort hands out distinct ports that accept a bind") {
  int a = FreePort();
  int b = FreePort();
  CHECK(a > 0);
  CHECK(a != b);
  CHECK_FALSE(PortAcceptsConnections("127.0.0.1", a, 200ms));
}

TEST_CASE("TestStack's Redis keeps its data through stop/start and kill -9 (AOF)") {
  TestStackOptions options;
  options.start_broker = false;
  options.start_uplink = false;
  options.start_downlink = false;
  TestStack stack(options);
  const int port = stack.redis_port();

  REQUIRE(stack.RedisCommand({"SET", "k1", "v1"}).ok());
  stack.StopRedis();  // SIGTERM: Redis flushes the AOF on the way out
  CHECK_FALSE(stack.RedisCommand({"PING"}).ok());
  REQUIRE(stack.StartRedis().ok());
  CHECK(stack.redis_port() == port);
  auto v = stack.RedisCommand({"GET", "k1"});
  REQUIRE(v.ok());
  CHECK(v->str == "v1");

  // appendfsync everysec: a write is on disk within about a second, kill -9 or not.
  REQUIRE(stack.RedisCommand({"SET", "k2", "v2"}).ok());
  std::this_thread::sleep_for(1500ms);
  stack.KillRedis();
  REQUIRE(stack.StartRedis().ok());
  v = stack.RedisCommand({"GET", "k2"});
  REQUIRE(v.ok());
  CHECK(v->str == "v2");
  CHECK(std::filesystem::exists(stack.data_dir() + "/redis/appendonlydir"));
}

TEST_CASE("TestStack finds a sanitizer report in any component's log, and StopAll returns it") {
  TestStackOptions options;
  options.start_broker = false;
  options.start_uplink = false;
  options.start_downlink = false;
  TestStack stack(options);
  CHECK(stack.SanitizerReports().empty());

  // What a crashed extra downlink of a sanitizer build leaves behind.
  const std::string log = stack.data_dir() + "/logs/downlink-9.log";
  std::ofstream(log) << "12:00:00 [info] delivering\n"
                     << "==42==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020\n"
                     << "    #0 0x55 in courier::DeliveryWorker::Run() delivery_worker.cpp:10\n";
  std::string reports = stack.SanitizerReports();
  CHECK(reports.find("downlink-9.log") != std::string::npos);
  CHECK(reports.find("heap-use-after-free") != std::string::npos);
  CHECK(reports.find("DeliveryWorker::Run") != std::string::npos);
  CHECK(reports.find("delivering") == std::string::npos);  // the report, not the whole log

  std::ofstream(log) << "a.cpp:3:5: runtime error: signed integer overflow\n";
  Status s = stack.StopAll();
  CHECK(s.code() == Status::Code::kInternal);
  CHECK(s.message().find("signed integer overflow") != std::string::npos);
  CHECK_FALSE(stack.Running(Component::kRedis));
  // Found once: the destructor's StopAll() does not fail this test a second time.
  CHECK(stack.StopAll().ok());
}

}  // namespace
}  // namespace courier::testing
