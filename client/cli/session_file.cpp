#include "client/cli/session_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "client/api_codec.h"

namespace courier::client::cli {

std::string SessionPath(const std::string& state_dir, const std::string& user_id,
                        const std::string& device_id) {
  return state_dir + "/" + user_id + "." + device_id + ".session.json";
}

Status SaveSession(const std::string& state_dir, const LoginInfo& session) {
  if (mkdir(state_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Status::Unavailable("cannot create " + state_dir + ": " + std::strerror(errno));
  }
  const std::string path = SessionPath(state_dir, session.user_id, session.device_id);
  const std::string tmp = path + ".tmp";
  const std::string text = LoginInfoToJson(session).dump() + "\n";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Status::Unavailable("cannot write " + tmp + ": " + std::strerror(errno));
  // An older file may have been created with looser bits: the token is a credential.
  bool ok = fchmod(fd, 0600) == 0 &&
            write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    unlink(tmp.c_str());
    return Status::Unavailable("cannot save the session in " + path + ": " + std::strerror(err));
  }
  return Status::Ok();
}

Result<LoginInfo> LoadSession(const std::string& state_dir, const std::string& user_id,
                              const std::string& device_id) {
  const std::string path = SessionPath(state_dir, user_id, device_id);
  std::ifstream in(path);
  if (!in) {
    return Status::NotFound("not logged in as " + user_id + " on " + device_id + " (no " + path +
                            "): run `courier login " + user_id + " --device " + device_id +
                            " --password ...` first");
  }
  std::stringstream text;
  text << in.rdbuf();
  Result<LoginInfo> session = ParseLoginAnswer(text.str());
  if (!session.ok()) {
    return Status::InvalidField("damaged session file " + path + ": " + session.status().message() +
                                "; log in again");
  }
  return session;
}

Status RemoveSession(const std::string& state_dir, const std::string& user_id,
                     const std::string& device_id) {
  const std::string path = SessionPath(state_dir, user_id, device_id);
  if (unlink(path.c_str()) != 0 && errno != ENOENT) {
    return Status::Unavailable("cannot remove " + path + ": " + std::strerror(errno));
  }
  return Status::Ok();
}

}  // namespace courier::client::cli
