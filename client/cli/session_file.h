// The CLI's saved logins: one file per user and device, `<state_dir>/<user>.<device>.session.json`,
// holding the login answer (token included) readable by its owner only (mode 0600, in a 0700
// directory), so that later commands act as that device without the password.
//
// Thread-safety: functions on files; the CLI calls them from its main thread.
#pragma once

#include <string>

#include "client/courier_client.h"
#include "common/status.h"

namespace courier::client::cli {

// "<state_dir>/<user>.<device>.session.json". REQUIRES: valid ids (common/ids.h).
std::string SessionPath(const std::string& state_dir, const std::string& user_id,
                        const std::string& device_id);

// Writes the session atomically (temporary file, fsync, rename), creating `state_dir` (0700) if
// needed. Unavailable with the reason if it cannot.
Status SaveSession(const std::string& state_dir, const LoginInfo& session);

// The saved session. NotFound ("not logged in as alice on phone: run courier login ...") when
// there is none; InvalidJson/InvalidField for a damaged file.
Result<LoginInfo> LoadSession(const std::string& state_dir, const std::string& user_id,
                              const std::string& device_id);

// Removes the saved session; OK if there was none.
Status RemoveSession(const std::string& state_dir, const std::string& user_id,
                     const std::string& device_id);

}  // namespace courier::client::cli
