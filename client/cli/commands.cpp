#include "client/cli/commands.h"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <nlohmann/json.hpp>

#include "client/api_client.h"
#include "client/api_codec.h"
#include "client/cli/command_support.h"
#include "client/cli/session_file.h"
#include "client/courier_client.h"
#include "client/cursor_store.h"
#include "client/inbox_sequencer.h"

namespace courier::client::cli {

namespace {

using nlohmann::json;

ApiClient MakeApi(const GlobalArgs& global) {
  // main() has checked the url already; a bad one here would be a bug.
  Result<BaseUrl> base = ParseBaseUrl(global.url);
  return ApiClient(base.ok() ? *base : BaseUrl{"127.0.0.1", 8080, ""},
                   SdkOptions(global).request_timeout);
}

// Prints a raw JSON answer of 200, or the error.
int PrintRawAnswer(const HttpAnswer& answer) {
  if (answer.status != 200) return Fail(StatusFromAnswer(answer));
  json j = json::parse(answer.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(Status::Internal("the answer is not JSON: " + answer.body));
  return PrintAnswer(j);
}

// The cursor store of `listen`: the saved cursor never passes the last entry printed, so that
// entries the SDK delivered in the same step after the last wanted one (a sync page holds many)
// are delivered again by the next listen instead of being skipped.
//
// Thread-safety: used from the SDK's event thread only (Save, Load, and the callbacks that call
// Printed and Cap run there).
class PrintedCursorStore final : public CursorStore {
 public:
  explicit PrintedCursorStore(std::unique_ptr<CursorStore> inner) : inner_(std::move(inner)) {}

  Result<Cursor> Load() override { return inner_->Load(); }
  Status Save(const Cursor& cursor) override {
    Cursor saved = cursor;
    if (capped_) {
      saved.last_seq = cursor.epoch == printed_.epoch ? std::min(cursor.last_seq, printed_.last_seq)
                                                      : 0;  // a new epoch, nothing of it printed
    }
    return inner_->Save(saved);
  }

  void Printed(const json& envelope) {
    printed_.epoch = StringField(envelope, "epoch");
    printed_.last_seq = SeqOf(envelope);
  }
  // From now on, nothing beyond the last printed entry is saved.
  void Cap() { capped_ = true; }

 private:
  std::unique_ptr<CursorStore> inner_;
  Cursor printed_;
  bool capped_ = false;
};

}  // namespace

int RunRegister(const GlobalArgs& global, const RegisterArgs& args) {
  Status s = MakeApi(global).Register(args.user, args.password, args.display_name);
  if (!s.ok()) return Fail(s);
  return PrintLine(json{{"user_id", args.user}}) ? kExitOk : kExitFailed;
}

int RunLogin(const GlobalArgs& global, const LoginArgs& args) {
  Result<LoginInfo> login =
      MakeApi(global).Login(args.user, args.password, args.device, args.platform);
  if (!login.ok()) return Fail(login.status());
  Status saved = SaveSession(global.state_dir, *login);
  if (!saved.ok()) return Fail(saved);
  json out = {{"user_id", login->user_id},
              {"device_id", login->device_id},
              {"expires_at", login->expires_at_ms}};
  if (args.show_token) out["token"] = login->token;
  return PrintLine(out) ? kExitOk : kExitFailed;
}

int RunLogout(const GlobalArgs& global, const DeviceArgs& device) {
  Result<LoginInfo> session = LoadSession(global.state_dir, device.user, device.device);
  if (!session.ok()) return Fail(session.status());
  Status s = MakeApi(global).Logout(session->token);
  // 401: the session had ended already; either way the saved token is of no use any more.
  if (s.ok() || s.code() == Status::Code::kUnauthorized) {
    Status removed = RemoveSession(global.state_dir, device.user, device.device);
    if (!removed.ok()) return Fail(removed);
  }
  if (!s.ok()) return Fail(s);
  return PrintLine(
             json{{"user_id", device.user}, {"device_id", device.device}, {"logged_out", true}})
             ? kExitOk
             : kExitFailed;
}

int RunSend(const GlobalArgs& global, const DeviceArgs& device, const SendArgs& args) {
  json body;
  if (args.has_body) {
    body = json::parse(args.body_json, nullptr, /*allow_exceptions=*/false);
    if (body.is_discarded()) {
      std::fprintf(stderr, "courier: --body is not JSON: %s\n", args.body_json.c_str());
      return kExitUsage;
    }
  } else {
    body = json{{"text", args.text}};
  }
  ClientOptions options = SdkOptions(global);
  options.send_deadline = std::chrono::milliseconds(static_cast<int64_t>(args.deadline_s * 1000));
  Result<std::unique_ptr<Client>> client = OpenSession(global, device, options);
  if (!client.ok()) return Fail(client.status());
  std::string cmid = args.cmid.empty() ? NewCmid() : args.cmid;
  Result<SendResult> sent = (*client)->SendWithCmid(args.to, cmid, body, args.kind);
  if (!sent.ok()) return Fail(sent.status());
  return PrintLine(json{{"id", sent->id},
                        {"conv", sent->conv},
                        {"conv_seq", sent->conv_seq},
                        {"ts", sent->ts},
                        {"cmid", sent->cmid},
                        {"duplicate", sent->duplicate},
                        {"attempts", sent->attempts}})
             ? kExitOk
             : kExitFailed;
}

int RunListen(const GlobalArgs& global, const DeviceArgs& device, const ListenArgs& args) {
  Result<LoginInfo> session = LoadSession(global.state_dir, device.user, device.device);
  if (!session.ok()) return Fail(session.status());

  StopSignals stop_signals;  // before the SDK starts its threads
  ClientOptions options = SdkOptions(global);
  options.ack_interval = std::chrono::milliseconds(std::max(100, args.ack_interval_ms));
  Client client(options);
  auto store = std::make_unique<PrintedCursorStore>(
      std::make_unique<FileCursorStore>(global.state_dir, device.user, device.device));
  PrintedCursorStore* printed_store = store.get();
  client.set_cursor_store(std::move(store));

  std::atomic<int64_t> printed{0};
  std::atomic<bool> kicked{false};
  std::atomic<bool> stdout_gone{false};
  // An inbox entry moves the saved cursor; a signal (no seq) does not.
  auto print = [&](const json& envelope, bool inbox_entry) {
    if (args.count > 0 && printed.load() >= args.count) return;  // the rest stay unsaved
    if (!PrintLine(envelope)) {
      stdout_gone = true;
      printed_store->Cap();
      client.Stop();
      return;
    }
    if (inbox_entry) printed_store->Printed(envelope);
    if (args.count > 0 && printed.fetch_add(1) + 1 >= args.count) {
      printed_store->Cap();
      client.Stop();  // from a callback: the SDK stops once this returns
    }
  };
  client.on_message = [&](const json& envelope) { print(envelope, true); };
  client.on_notification = [&](const json& envelope) { print(envelope, true); };
  if (args.signals) client.on_signal = [&](const json& envelope) { print(envelope, false); };
  client.on_state = [&](ConnectionState state, const std::string& detail) {
    std::fprintf(stderr, "courier: %s: %s\n", ToString(state), detail.c_str());
    if (state == ConnectionState::kKicked) kicked = true;
  };
  Status used = client.UseSession(*session);
  if (!used.ok()) return Fail(used);
  Status started = client.Start();
  if (!started.ok()) return Fail(started);

  const bool timed_out =
      stop_signals.Wait(
          [&] { return kicked || stdout_gone || (args.count > 0 && printed.load() >= args.count); },
          args.timeout_s) == StopSignals::Ending::kTimeout;
  client.Stop();
  if (kicked) return Fail(Status::Unauthorized("the session has ended: log in again"));
  if (stdout_gone) return kExitFailed;
  if (timed_out && args.count > 0 && printed.load() < args.count) {
    std::fprintf(stderr, "courier: timed out after %g s with %lld of %lld entries\n",
                 args.timeout_s, static_cast<long long>(printed.load()),
                 static_cast<long long>(args.count));
    return kExitFailed;
  }
  return kExitOk;
}

int RunSync(const GlobalArgs& global, const DeviceArgs& device, const SyncArgs& args) {
  Result<LoginInfo> session = LoadSession(global.state_dir, device.user, device.device);
  if (!session.ok()) return Fail(session.status());
  return PrintRawAnswer(MakeApi(global).Request(
      "GET",
      "/v1/sync?after=" + std::to_string(args.after) + "&limit=" + std::to_string(args.limit), "",
      session->token));
}

int RunAck(const GlobalArgs& global, const DeviceArgs& device, const AckArgs& args) {
  Result<LoginInfo> session = LoadSession(global.state_dir, device.user, device.device);
  if (!session.ok()) return Fail(session.status());
  return PrintRawAnswer(
      MakeApi(global).Request("POST", "/v1/acks", json{{"seq", args.seq}}.dump(), session->token));
}

}  // namespace courier::client::cli
