// The CLI's conversation, read mark, recall, signal and presence commands: one SDK call each
// (commands.h).
#include <nlohmann/json.hpp>

#include "client/api_codec.h"
#include "client/cli/command_support.h"
#include "client/cli/commands.h"

namespace courier::client::cli {

namespace {

using nlohmann::json;

}  // namespace

int RunConversations(const GlobalArgs& global, const DeviceArgs& device, int limit) {
  return RunQuery(
      global, device, [&](Client& c) { return c.Conversations(limit); },
      [](const std::vector<ConversationSummary>& conversations) {
        json items = json::array();
        for (const ConversationSummary& s : conversations) items.push_back(ToJson(s));
        return json{{"items", items}};
      });
}

int RunHistory(const GlobalArgs& global, const DeviceArgs& device, const HistoryArgs& args) {
  return RunQuery(
      global, device, [&](Client& c) { return c.History(args.conv, args.before, args.limit); },
      [](const MessagePage& page) { return ToJson(page); });
}

int RunRead(const GlobalArgs& global, const DeviceArgs& device, const ReadArgs& args) {
  return RunAction(
      global, device, [&](Client& c) { return c.MarkRead(args.conv, args.conv_seq); },
      json{{"conv", args.conv}, {"conv_seq", args.conv_seq}, {"read", true}});
}

int RunRecall(const GlobalArgs& global, const DeviceArgs& device, const std::string& id) {
  return RunAction(
      global, device, [&](Client& c) { return c.Recall(id); },
      json{{"id", id}, {"recalled", true}});
}

int RunSignal(const GlobalArgs& global, const DeviceArgs& device, const SignalArgs& args) {
  return RunAction(
      global, device, [&](Client& c) { return c.SendSignal(args.to, args.kind); },
      json{{"to", args.to}, {"kind", args.kind}, {"sent", true}});
}

int RunPresence(const GlobalArgs& global, const DeviceArgs& device,
                const std::vector<std::string>& users) {
  return RunQuery(
      global, device, [&](Client& c) { return c.GetPresence(users); },
      [](const std::map<std::string, Presence>& presence) { return ToJson(presence); });
}

}  // namespace courier::client::cli
