// What every Courier process does before it serves: read its configuration (flags,
// environment, INI file), start logging, load the JWT secrets, and take the stop signals.
#pragma once

#include <signal.h>

#include <string>
#include <vector>

#include "common/config.h"

namespace CLI {
class App;
}

namespace courier {

// Parses argv into `config` (its flags already added to `app`), starts logging as `process`,
// completes the configuration and returns the JWT secrets. On --help it prints and exits 0; on
// a bad flag or setting it says why and exits 2.
std::vector<std::string> LoadConfigOrExit(CLI::App& app, int argc, char** argv, Config* config,
                                          const std::string& process);

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts later, so that one
// thread can wait for them with sigwait(); ignores SIGPIPE. Call before starting threads.
sigset_t BlockStopSignals();

}  // namespace courier
