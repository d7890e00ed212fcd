// The integration tests' main: doctest's, after one process-wide setting.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>
#include <signal.h>

int main(int argc, char** argv) {
  // cpp-httplib writes to sockets without MSG_NOSIGNAL: when a server closes a connection while
  // a request is still being sent (a 413 for an oversized body, a killed uplink), the write must
  // fail with EPIPE, not kill the test run with SIGPIPE. Children get SIGPIPE back at exec
  // (ChildProcess resets every signal disposition).
  signal(SIGPIPE, SIG_IGN);
  return doctest::Context(argc, argv).run();
}
