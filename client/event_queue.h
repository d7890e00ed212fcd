// EventQueue: how other threads hand work to the client's event thread (muduo's
// EventLoop::queueInLoop, reduced to a queue): any thread posts; the one loop thread waits for
// events, a deadline or a stop request, and takes everything queued at once.
//
// Thread-safety: thread-safe. Post and RequestStop from any thread; WaitUntil and TakeAll from
// the loop thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>

namespace courier::client {

template <typename Event>
class EventQueue {
 public:
  using Clock = std::chrono::steady_clock;

  void Post(Event event) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      events_.push_back(std::move(event));
    }
    cv_.notify_one();
  }

  // Queues `event` only if the queue is open (between Reset() and Close()): then the loop sees
  // it, in TakeAll() or in what Close() returns. False, and nothing queued, otherwise.
  bool PostIfOpen(Event event) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!open_) return false;
      events_.push_back(std::move(event));
    }
    cv_.notify_one();
    return true;
  }

  // Wakes the loop; stop_requested() is true from now until Reset().
  void RequestStop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
  }
  bool stop_requested() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stop_;
  }

  // Blocks until an event is queued, a stop is requested, or `deadline` passes.
  void WaitUntil(Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_until(lock, deadline, [this] { return stop_ || !events_.empty(); });
  }

  // Everything queued, oldest first; the queue is empty afterwards.
  std::deque<Event> TakeAll() {
    std::lock_guard<std::mutex> lock(mu_);
    std::deque<Event> out;
    out.swap(events_);
    return out;
  }

  // Drops queued events, clears the stop request and opens the queue (before the loop starts).
  void Reset() {
    std::lock_guard<std::mutex> lock(mu_);
    events_.clear();
    stop_ = false;
    open_ = true;
  }

  // Closes the queue (the loop has ended) and returns what is still queued, oldest first.
  std::deque<Event> Close() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = false;
    std::deque<Event> out;
    out.swap(events_);
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;  // GUARDED_BY(mu_)
  bool stop_ = false;         // GUARDED_BY(mu_)
  bool open_ = false;         // GUARDED_BY(mu_)
};

}  // namespace courier::client
