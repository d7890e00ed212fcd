#include "client/room_filter.h"

namespace courier::client {

bool RoomSeqFilter::Admit(const std::string& room_id, int64_t room_seq) {
  auto [it, inserted] = last_.try_emplace(room_id, room_seq);
  if (inserted) return true;
  if (room_seq <= it->second) return false;
  it->second = room_seq;
  return true;
}

int64_t RoomSeqFilter::last(const std::string& room_id) const {
  auto it = last_.find(room_id);
  return it == last_.end() ? 0 : it->second;
}

int64_t RoomSeqOf(const nlohmann::json& envelope) {
  if (!envelope.is_object()) return -1;
  auto it = envelope.find("room_seq");
  if (it == envelope.end() || !it->is_number_integer()) return -1;
  int64_t seq = it->get<int64_t>();
  return seq >= 1 ? seq : -1;
}

}  // namespace courier::client
