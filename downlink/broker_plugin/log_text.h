// Untrusted text in log lines. Client ids, usernames and topics come from the network: a
// newline would forge a log line and a 64 KiB username would flood the log.
//
// Pure function; thread-safe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace courier::broker {

// `text` for one log line: bytes outside printable ASCII become '?', and text beyond `max_len`
// bytes is cut and marked with "...".
std::string PrintableForLog(std::string_view text, size_t max_len = 128);

}  // namespace courier::broker
