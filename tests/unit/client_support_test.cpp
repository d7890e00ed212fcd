#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "client/backoff.h"
#include "client/cursor_store.h"

namespace courier::client {

TEST_CASE("backoff grows by its factor within the jitter, caps, and resets") {
  BackoffPolicy p{std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 2.0, 0.25};
  Backoff b(p, 42);
  double nominal = 100;
  for (int i = 0; i < 8; ++i) {
    auto d = b.Next().count();
    CHECK(d >= static_cast<int64_t>(nominal * 0.75) - 1);
    CHECK(d <= static_cast<int64_t>(nominal * 1.25) + 1);
    nominal = std::min(nominal * 2, 1000.0);
  }
  b.Reset();
  CHECK(b.Next().count() <= 125);
  // Jitter spreads devices apart: different seeds, different delays.
  Backoff x(p, 1), y(p, 2);
  bool differ = false;
  for (int i = 0; i < 5; ++i) differ |= x.Next() != y.Next();
  CHECK(differ);
}

TEST_CASE("the file cursor store round-trips and survives a reopen") {
  std::string dir =
      std::filesystem::temp_directory_path() / ("courier-cursor-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  {
    FileCursorStore store(dir, "alice", "phone");
    auto empty = store.Load();
    REQUIRE(empty.ok());
    CHECK(*empty == Cursor{});
    REQUIRE(store.Save(Cursor{}).ok());
    CHECK(*store.Load() == Cursor{});
    REQUIRE(store.Save({"ep0ch", 42}).ok());
  }
  FileCursorStore reopened(dir, "alice", "phone");
  CHECK(*reopened.Load() == Cursor{"ep0ch", 42});
  FileCursorStore other_device(dir, "alice", "tablet");
  CHECK(*other_device.Load() == Cursor{});

  std::ofstream(reopened.path()) << "garbage";
  CHECK(reopened.Load().status().code() == Status::Code::kInvalidField);
  std::ofstream(reopened.path()) << "ep -3\n";
  CHECK_FALSE(reopened.Load().ok());
  std::filesystem::remove_all(dir);
}

}  // namespace courier::client
