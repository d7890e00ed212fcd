#include "common/process_setup.h"

#include <sys/socket.h>

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "common/log.h"

namespace courier {

std::vector<std::string> LoadConfigOrExit(CLI::App& app, int argc, char** argv, Config* config,
                                          const std::string& process) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e));
  }
  InitLogging(process, config->log_level, config->log_format);
  if (Status s = FinishConfig(config); !s.ok()) {
    spdlog::critical("configuration: {}", s.message());
    std::exit(2);
  }
  auto secrets = LoadJwtSecrets(*config);
  if (!secrets.ok()) {
    spdlog::critical("configuration: {}", secrets.status().message());
    std::exit(2);
  }
  return std::move(*secrets);
}

void SetListenSocketOptions(int fd) {
  int yes = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
}

sigset_t BlockStopSignals() {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return stop;
}

ReloadOnSighup::ReloadOnSighup(std::function<void()> on_reload) {
  sigset_t hup;
  sigemptyset(&hup);
  sigaddset(&hup, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &hup, nullptr);
  thread_ = std::thread([this, hup, on_reload = std::move(on_reload)] {
    const timespec poll{0, 200 * 1000 * 1000};  // how soon the destructor is answered
    while (!stopping_) {
      if (sigtimedwait(&hup, nullptr, &poll) == SIGHUP) {
        spdlog::info("SIGHUP: reloading");
        on_reload();
      }
    }
  });
}

ReloadOnSighup::~ReloadOnSighup() {
  stopping_ = true;
  thread_.join();
}

}  // namespace courier
