// Where a device keeps its inbox cursor (epoch and last delivered seq) across restarts.
//
// The default stores it in a small file per user and device. An app that keeps messages in
// its own database should store the cursor in the same transaction as the messages it
// delivered (its own CursorStore): then a crash can never deliver a message twice or skip one.
//
// Thread-safety: implementations need not be thread-safe; the client uses one from its event
// thread only.
#pragma once

#include <cstdint>
#include <string>

#include "common/status.h"

namespace courier::client {

struct Cursor {
  std::string epoch;  // empty: never synced
  int64_t last_seq = 0;

  bool operator==(const Cursor&) const = default;
};

class CursorStore {
 public:
  virtual ~CursorStore() = default;
  // The stored cursor; {"" , 0} if none was ever saved.
  virtual Result<Cursor> Load() = 0;
  // Durable when it returns OK.
  virtual Status Save(const Cursor& cursor) = 0;
};

// One file, `<dir>/<user>.<device>.cursor`, holding "<epoch> <last_seq>\n", replaced
// atomically (write a temporary file, fsync, rename).
class FileCursorStore final : public CursorStore {
 public:
  // REQUIRES: user_id and device_id are valid ids (common/ids.h), so the name is safe.
  FileCursorStore(std::string dir, const std::string& user_id, const std::string& device_id);

  Result<Cursor> Load() override;
  Status Save(const Cursor& cursor) override;
  const std::string& path() const { return path_; }

 private:
  std::string dir_;
  std::string path_;
};

// Keeps the cursor in memory only (tests, and apps that resync from 0 on every start).
class MemoryCursorStore final : public CursorStore {
 public:
  Result<Cursor> Load() override { return cursor_; }
  Status Save(const Cursor& cursor) override {
    cursor_ = cursor;
    return Status::Ok();
  }

 private:
  Cursor cursor_;
};

}  // namespace courier::client
