#include "client/cursor_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/ids.h"

namespace courier::client {

namespace {

constexpr const char* kNoEpoch = "-";  // written for a cursor that never saw an epoch

}  // namespace

FileCursorStore::FileCursorStore(std::string dir, const std::string& user_id,
                                 const std::string& device_id)
    : dir_(std::move(dir)), path_(dir_ + "/" + user_id + "." + device_id + ".cursor") {}

Result<Cursor> FileCursorStore::Load() {
  if (access(path_.c_str(), F_OK) != 0) return Cursor{};  // never saved
  std::ifstream in(path_);
  if (!in) return Status::Unavailable("cannot read " + path_);
  Cursor c;
  std::string line;
  std::getline(in, line);
  std::istringstream fields(line);
  if (!(fields >> c.epoch >> c.last_seq) || c.last_seq < 0 || !IsValidId(c.epoch)) {
    return Status::InvalidField("malformed cursor file " + path_);
  }
  if (c.epoch == kNoEpoch) c.epoch.clear();
  return c;
}

Status FileCursorStore::Save(const Cursor& c) {
  if (mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::Unavailable("cannot create " + dir_ + ": " + std::strerror(errno));
  }
  std::string tmp = path_ + ".tmp";
  std::string text =
      (c.epoch.empty() ? std::string(kNoEpoch) : c.epoch) + " " + std::to_string(c.last_seq) + "\n";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Unavailable("cannot write " + tmp + ": " + std::strerror(errno));
  bool ok =
      write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp.c_str(), path_.c_str()) != 0) {
    return Status::Unavailable("cannot save the cursor in " + path_ + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace courier::client
