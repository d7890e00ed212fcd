// MqttSwarm: many MQTT connections driven by one thread — devices that subscribe and receive,
// and publishers that keep a window of QoS 1 publishes in flight — over libmosquitto's
// non-threaded API (mosquitto_loop_read / _write / _misc) and one epoll set. A thread per
// connection would make the load generator the bottleneck long before the broker is.
//
// Every libmosquitto call happens on the loop thread; other threads post requests (Add,
// DropAll, ReconnectAll, StartPublishing) that the loop picks up within a few milliseconds.
// Connects are started at most `max_connecting` at a time, so a burst of thousands does not
// overflow the broker's listen backlog (Mosquitto listens with 100, fixed; a dropped SYN costs a
// 1 s retransmit) — as real devices spread their reconnects with jittered backoff.
//
// Thread-safety: the public methods are thread-safe. The handlers run on the loop thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

struct mosquitto;
struct mosquitto_message;

namespace courier::bench {

struct MqttEndpoint {
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string client_id;
  std::string username;
  std::string password;
  std::vector<std::string> subscriptions;  // QoS 1 each, subscribed once connected
  std::string bind_address;                // local source address ("" = any), e.g. 127.0.0.2
  int keepalive_s = 60;
};

class MqttSwarm {
 public:
  // A PUBLISH that device `device` received; `arrival_ns` is steady_clock time on arrival.
  using MessageHandler = std::function<void(size_t device, std::string_view topic,
                                            std::string_view payload, int64_t arrival_ns)>;
  // The next message for a publisher: fills topic and payload and returns true, or returns
  // false when it has no more (for now: the loop asks again on the next PUBACK or tick).
  using NextMessage = std::function<bool(std::string* topic, std::string* payload)>;

  explicit MqttSwarm(MessageHandler on_message, int max_connecting = 64);
  ~MqttSwarm();  // closes every connection and joins the loop
  MqttSwarm(const MqttSwarm&) = delete;
  MqttSwarm& operator=(const MqttSwarm&) = delete;

  // Queues a device to connect (and subscribe); returns its index, 0, 1, 2, ...
  size_t Add(MqttEndpoint endpoint);
  // Every connection is closed at once without an MQTT DISCONNECT (as a phone losing its
  // network); `ReconnectAll` connects them all again (same client ids and passwords).
  void DropAll();
  void ReconnectAll();
  // Device `device` (once connected) publishes what `next` gives at QoS 1, keeping at most
  // `window` publishes unacknowledged. `on_ack(now_ns)` runs for every PUBACK.
  void StartPublishing(size_t device, int window, NextMessage next,
                       std::function<void(int64_t)> on_ack);

  // Blocks until `count` devices have their subscriptions granted (or, with `count` 0, until
  // every device added has), or `timeout` passes; true when reached.
  bool WaitSubscribed(size_t count, std::chrono::milliseconds timeout);

  size_t size() const;
  size_t subscribed() const { return subscribed_.load(); }   // now
  uint64_t connects() const { return connects_.load(); }     // CONNACKs accepted, ever
  uint64_t refused() const { return refused_.load(); }       // CONNACKs or SUBACKs refusing
  uint64_t connection_lost() const { return lost_.load(); }  // not asked for by DropAll
  uint64_t connect_errors() const { return connect_errors_.load(); }  // socket-level
  std::string last_error() const;

  static int64_t NowNs();

 private:
  struct Device;
  void Loop();
  void Post(std::function<void()> fn);
  void RunPostedInLoop();
  void StartConnectsInLoop();
  void ConnectInLoop(Device* d);
  void WatchInLoop(Device* d);
  void ClosedInLoop(Device* d);
  void PumpInLoop(Device* d);
  void SetError(std::string text);

  static void OnConnect(mosquitto* m, void* obj, int rc);
  static void OnSubscribe(mosquitto* m, void* obj, int mid, int count, const int* granted);
  static void OnMessage(mosquitto* m, void* obj, const mosquitto_message* msg);
  static void OnPublish(mosquitto* m, void* obj, int mid);
  static void OnDisconnect(mosquitto* m, void* obj, int rc);

  MessageHandler on_message_;
  const int max_connecting_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: Post() wakes the loop

  mutable std::mutex mu_;
  std::condition_variable cv_;                // subscribed_ changed
  std::deque<std::function<void()>> posted_;  // GUARDED_BY(mu_)
  std::string last_error_;                    // GUARDED_BY(mu_)
  size_t added_ = 0;                          // GUARDED_BY(mu_)

  // Loop thread only.
  std::vector<std::unique_ptr<Device>> devices_;
  std::deque<Device*> to_connect_;
  int connecting_ = 0;

  std::atomic<size_t> subscribed_{0};
  std::atomic<uint64_t> connects_{0};
  std::atomic<uint64_t> refused_{0};
  std::atomic<uint64_t> lost_{0};
  std::atomic<uint64_t> connect_errors_{0};
  std::atomic<bool> stopping_{false};
  std::thread loop_;
};

}  // namespace courier::bench
