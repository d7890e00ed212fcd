// The `courier` CLI's subcommands, one function each, over the SDK (client/courier_client.h)
// and its HTTP calls (client/api_client.h). main.cpp only parses the command line into these
// structs. Each prints its answer as one line of compact JSON on stdout and any error on stderr
// ("courier: <code>: <message>"), and returns the exit code.
//
// Thread-safety: each runs on the CLI's main thread.
#pragma once

#include <cstdint>
#include <string>

namespace courier::client::cli {

// Exit codes of every subcommand.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed =
    1;                                // the request failed, or the answer was not the one hoped for
inline constexpr int kExitUsage = 2;  // the command line is wrong

struct GlobalArgs {
  std::string url;        // the uplink, e.g. http://127.0.0.1:8080
  std::string state_dir;  // sessions and cursors
};

struct RegisterArgs {
  std::string user;
  std::string password;
  std::string display_name;
};
int RunRegister(const GlobalArgs& global, const RegisterArgs& args);

struct LoginArgs {
  std::string user;
  std::string password;
  std::string device;
  std::string platform = "cli";
  bool show_token = false;
};
int RunLogin(const GlobalArgs& global, const LoginArgs& args);

// --as/--device: which saved session a command acts as.
struct DeviceArgs {
  std::string user;
  std::string device;
};
int RunLogout(const GlobalArgs& global, const DeviceArgs& device);

struct SendArgs {
  std::string to;
  std::string cmid;  // "" = a fresh one
  std::string kind = "text";
  std::string text;  // exactly one of text and body_json
  std::string body_json;
  bool has_text = false;
  bool has_body = false;
  double deadline_s = 30;  // all retries of the send
};
int RunSend(const GlobalArgs& global, const DeviceArgs& device, const SendArgs& args);

struct ListenArgs {
  int64_t count = 0;     // 0: no limit
  double timeout_s = 0;  // 0: none
  int ack_interval_ms = 5000;
};
// Prints each delivered inbox entry (message or notification) as one line, flushed; state
// changes go to stderr. Ends after `count` entries, `timeout_s`, SIGINT or SIGTERM: exit 0; or
// when the session is ended (kicked), or the timeout came before `count` entries: exit 1. The
// saved cursor never passes the last printed entry, so the next listen resumes right after it.
int RunListen(const GlobalArgs& global, const DeviceArgs& device, const ListenArgs& args);

struct SyncArgs {
  int64_t after = 0;
  int limit = 100;
};
// One raw page of GET /v1/sync; it moves no cursor.
int RunSync(const GlobalArgs& global, const DeviceArgs& device, const SyncArgs& args);

struct AckArgs {
  int64_t seq = 0;
};
int RunAck(const GlobalArgs& global, const DeviceArgs& device, const AckArgs& args);

}  // namespace courier::client::cli
