// Readiness of the MQTT broker as the uplink sees it: can a TCP connection be opened?
#pragma once

#include <string>

#include "common/status.h"

namespace courier {

// OK if host:port accepts a TCP connection within `timeout_ms`; Unavailable otherwise.
Status ProbeTcp(const std::string& host, int port, int timeout_ms);

}  // namespace courier
