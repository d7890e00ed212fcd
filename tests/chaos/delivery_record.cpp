#include "tests/chaos/delivery_record.h"

#include <fstream>
#include <sstream>

namespace courier::chaos {

namespace {

using nlohmann::json;

std::string StringAt(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

int64_t IntAt(const json& object, const char* key) {
  if (!object.is_object()) return 0;
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

std::string OrDash(const std::string& s) { return s.empty() ? "-" : s; }
std::string FromDash(const std::string& s) { return s == "-" ? "" : s; }

}  // namespace

std::string NotificationKey(const std::string& event, const std::string& group_id,
                            const std::string& subject, int64_t ts) {
  return "n:" + event + ":" + group_id + ":" + subject + ":" + std::to_string(ts);
}

Delivery DeliveryOf(const json& envelope) {
  Delivery d;
  d.seq = IntAt(envelope, "seq");
  d.type = StringAt(envelope, "type");
  if (d.type == "notification") {
    const json empty = json::object();
    const json& data = envelope.contains("data") ? envelope["data"] : empty;
    d.event = StringAt(envelope, "event");
    std::string gid = StringAt(data, "group_id");
    d.subject = StringAt(data, "user_id");
    if (d.subject.empty()) d.subject = StringAt(data, "owner");
    if (!gid.empty()) d.conv = "g:" + gid;
    d.id = NotificationKey(d.event, gid, d.subject, IntAt(envelope, "ts"));
  } else {
    d.id = StringAt(envelope, "id");
    d.conv = StringAt(envelope, "conv");
    d.conv_seq = IntAt(envelope, "conv_seq");
  }
  return d;
}

std::string EncodeDelivery(const Delivery& d) {
  std::ostringstream out;
  out << d.seq << ' ' << OrDash(d.type) << ' ' << OrDash(d.id) << ' ' << OrDash(d.conv) << ' '
      << d.conv_seq << ' ' << OrDash(d.event) << ' ' << OrDash(d.subject);
  return out.str();
}

std::optional<Delivery> DecodeDelivery(const std::string& line) {
  std::istringstream in(line);
  Delivery d;
  std::string type, id, conv, event, subject, extra;
  if (!(in >> d.seq >> type >> id >> conv >> d.conv_seq >> event >> subject)) return std::nullopt;
  if (in >> extra) return std::nullopt;
  d.type = FromDash(type);
  d.id = FromDash(id);
  d.conv = FromDash(conv);
  d.event = FromDash(event);
  d.subject = FromDash(subject);
  return d;
}

std::vector<Delivery> ReadDeliveryFile(const std::string& path) {
  std::vector<Delivery> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    if (auto d = DecodeDelivery(line)) out.push_back(std::move(*d));
  }
  return out;
}

void DeliveryLog::Add(const std::string& user, Delivery d) {
  std::lock_guard lock(mu_);
  by_user_[user].push_back(std::move(d));
}

DeliveriesByUser DeliveryLog::Snapshot() const {
  std::lock_guard lock(mu_);
  return by_user_;
}

}  // namespace courier::chaos
