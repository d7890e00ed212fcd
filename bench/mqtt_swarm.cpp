#include "bench/mqtt_swarm.h"

#include <mosquitto.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace courier::bench {

namespace {

constexpr int kMaxEvents = 512;
constexpr int kTickMs = 20;
constexpr auto kMiscEvery = std::chrono::milliseconds(500);

// libmosquitto needs its global state set up once per process before the first client.
struct LibraryInit {
  LibraryInit() { mosquitto_lib_init(); }
};

}  // namespace

struct MqttSwarm::Device {
  enum class State { kNew, kQueued, kConnecting, kConnected, kSubscribed, kDown };

  MqttSwarm* swarm = nullptr;
  size_t index = 0;
  MqttEndpoint endpoint;
  mosquitto* mosq = nullptr;
  int fd = -1;
  bool write_armed = false;
  State state = State::kNew;
  bool dropping = false;  // DropAll closed it: not a lost connection
  int subscriptions_pending = 0;
  bool subscription_refused = false;

  // A publisher's window (StartPublishing).
  bool publishing = false;
  int window = 0;
  int in_flight = 0;
  NextMessage next;
  std::function<void(int64_t)> on_ack;

  ~Device() {
    if (mosq != nullptr) mosquitto_destroy(mosq);
  }
};

int64_t MqttSwarm::NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

MqttSwarm::MqttSwarm(MessageHandler on_message, int max_connecting)
    : on_message_(std::move(on_message)), max_connecting_(max_connecting) {
  static LibraryInit init;
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;  // the wake-up fd; devices carry their Device*
  epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev);
  loop_ = std::thread([this] { Loop(); });
}

MqttSwarm::~MqttSwarm() {
  stopping_ = true;
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
  loop_.join();
  devices_.clear();  // mosquitto_destroy closes the sockets
  close(wake_fd_);
  close(epoll_fd_);
}

void MqttSwarm::Post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    posted_.push_back(std::move(fn));
  }
  uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

size_t MqttSwarm::Add(MqttEndpoint endpoint) {
  size_t index;
  {
    std::lock_guard<std::mutex> lock(mu_);
    index = added_++;
  }
  auto shared = std::make_shared<MqttEndpoint>(std::move(endpoint));
  Post([this, index, shared] {
    auto d = std::make_unique<Device>();
    d->swarm = this;
    d->index = index;
    d->endpoint = std::move(*shared);
    d->state = Device::State::kQueued;
    to_connect_.push_back(d.get());
    if (devices_.size() <= index) devices_.resize(index + 1);
    devices_[index] = std::move(d);
  });
  return index;
}

size_t MqttSwarm::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return added_;
}

void MqttSwarm::DropAll() {
  Post([this] {
    for (auto& d : devices_) {
      if (d == nullptr) continue;
      if (d->state == Device::State::kQueued) d->state = Device::State::kDown;
      if (d->fd < 0) continue;
      d->dropping = true;
      // The loop sees the socket end, and libmosquitto closes it and says so (OnDisconnect).
      shutdown(d->fd, SHUT_RDWR);
    }
    to_connect_.clear();
  });
}

void MqttSwarm::ReconnectAll() {
  Post([this] {
    for (auto& d : devices_) {
      if (d == nullptr || d->state != Device::State::kDown) continue;
      d->state = Device::State::kQueued;
      to_connect_.push_back(d.get());
    }
  });
}

void MqttSwarm::StartPublishing(size_t device, int window, NextMessage next,
                                std::function<void(int64_t)> on_ack) {
  auto shared_next = std::make_shared<NextMessage>(std::move(next));
  auto shared_ack = std::make_shared<std::function<void(int64_t)>>(std::move(on_ack));
  Post([this, device, window, shared_next, shared_ack] {
    if (device >= devices_.size() || devices_[device] == nullptr) return;
    Device* d = devices_[device].get();
    d->publishing = true;
    d->window = window;
    d->next = std::move(*shared_next);
    d->on_ack = std::move(*shared_ack);
    PumpInLoop(d);
    WatchInLoop(d);
  });
}

bool MqttSwarm::WaitSubscribed(size_t count, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, timeout, [&] {
    size_t want = count == 0 ? added_ : count;
    return subscribed_.load() >= want;
  });
}

std::string MqttSwarm::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

void MqttSwarm::SetError(std::string text) {
  std::lock_guard<std::mutex> lock(mu_);
  last_error_ = std::move(text);
}

void MqttSwarm::RunPostedInLoop() {
  std::deque<std::function<void()>> work;
  {
    std::lock_guard<std::mutex> lock(mu_);
    work.swap(posted_);
  }
  for (auto& fn : work) fn();
}

void MqttSwarm::StartConnectsInLoop() {
  while (connecting_ < max_connecting_ && !to_connect_.empty()) {
    Device* d = to_connect_.front();
    to_connect_.pop_front();
    if (d->state == Device::State::kQueued) ConnectInLoop(d);
  }
}

void MqttSwarm::ConnectInLoop(Device* d) {
  d->dropping = false;
  d->subscription_refused = false;
  d->in_flight = 0;
  int rc;
  if (d->mosq == nullptr) {
    d->mosq = mosquitto_new(d->endpoint.client_id.c_str(), true, d);
    if (d->mosq == nullptr) {
      ++connect_errors_;
      SetError("mosquitto_new failed");
      d->state = Device::State::kDown;
      return;
    }
    mosquitto_connect_callback_set(d->mosq, &MqttSwarm::OnConnect);
    mosquitto_subscribe_callback_set(d->mosq, &MqttSwarm::OnSubscribe);
    mosquitto_message_callback_set(d->mosq, &MqttSwarm::OnMessage);
    mosquitto_publish_callback_set(d->mosq, &MqttSwarm::OnPublish);
    mosquitto_disconnect_callback_set(d->mosq, &MqttSwarm::OnDisconnect);
    mosquitto_username_pw_set(d->mosq, d->endpoint.username.c_str(), d->endpoint.password.c_str());
    mosquitto_int_option(d->mosq, MOSQ_OPT_TCP_NODELAY, 1);
    mosquitto_max_inflight_messages_set(d->mosq, 0);  // the window is ours (StartPublishing)
    const char* bind =
        d->endpoint.bind_address.empty() ? nullptr : d->endpoint.bind_address.c_str();
    rc = mosquitto_connect_bind_async(d->mosq, d->endpoint.host.c_str(), d->endpoint.port,
                                      d->endpoint.keepalive_s, bind);
  } else {
    rc = mosquitto_reconnect_async(d->mosq);
  }
  if (rc != MOSQ_ERR_SUCCESS) {
    ++connect_errors_;
    SetError(std::string("connect: ") +
             (rc == MOSQ_ERR_ERRNO ? std::strerror(errno) : mosquitto_strerror(rc)));
    d->state = Device::State::kDown;
    return;
  }
  d->fd = mosquitto_socket(d->mosq);
  d->state = Device::State::kConnecting;
  ++connecting_;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT;
  ev.data.ptr = d;
  d->write_armed = true;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, d->fd, &ev) != 0 && errno == EEXIST) {
    epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, d->fd, &ev);
  }
}

void MqttSwarm::WatchInLoop(Device* d) {
  if (d->fd < 0) return;
  bool want = mosquitto_want_write(d->mosq);
  if (want == d->write_armed) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (want ? EPOLLOUT : 0u);
  ev.data.ptr = d;
  epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, d->fd, &ev);
  d->write_armed = want;
}

void MqttSwarm::ClosedInLoop(Device* d) {
  // libmosquitto closed the socket, which took it out of the epoll set.
  d->fd = -1;
  d->write_armed = false;
  if (d->state == Device::State::kConnecting) {
    --connecting_;
    if (!d->dropping) ++connect_errors_;
  } else if (d->state == Device::State::kSubscribed) {
    subscribed_.fetch_sub(1);
  }
  if (!d->dropping &&
      (d->state == Device::State::kConnected || d->state == Device::State::kSubscribed)) {
    ++lost_;
  }
  d->state = Device::State::kDown;
}

void MqttSwarm::PumpInLoop(Device* d) {
  if (!d->publishing) return;
  if (d->state != Device::State::kConnected && d->state != Device::State::kSubscribed) return;
  std::string topic;
  std::string payload;
  while (d->in_flight < d->window && d->next(&topic, &payload)) {
    int rc = mosquitto_publish(d->mosq, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                               payload.data(), 1, false);
    if (rc != MOSQ_ERR_SUCCESS) {
      SetError(std::string("publish: ") + mosquitto_strerror(rc));
      break;
    }
    ++d->in_flight;
  }
}

void MqttSwarm::Loop() {
  epoll_event events[kMaxEvents];
  auto next_misc = std::chrono::steady_clock::now() + kMiscEvery;
  while (!stopping_) {
    int n = epoll_wait(epoll_fd_, events, kMaxEvents, kTickMs);
    for (int i = 0; i < n; ++i) {
      auto* d = static_cast<Device*>(events[i].data.ptr);
      if (d == nullptr) {
        uint64_t count;
        [[maybe_unused]] ssize_t r = read(wake_fd_, &count, sizeof count);
        continue;
      }
      if (d->fd < 0) continue;  // closed by an earlier event of this round
      uint32_t what = events[i].events;
      int rc = MOSQ_ERR_SUCCESS;
      if (what & (EPOLLIN | EPOLLERR | EPOLLHUP)) rc = mosquitto_loop_read(d->mosq, 1);
      if (rc == MOSQ_ERR_SUCCESS && d->fd >= 0 && (what & EPOLLOUT)) {
        rc = mosquitto_loop_write(d->mosq, 1);
      }
      if (d->fd >= 0 && mosquitto_socket(d->mosq) < 0) ClosedInLoop(d);
      WatchInLoop(d);
    }
    RunPostedInLoop();
    StartConnectsInLoop();
    auto now = std::chrono::steady_clock::now();
    if (now >= next_misc) {
      next_misc = now + kMiscEvery;
      for (auto& d : devices_) {
        if (d == nullptr || d->fd < 0) continue;
        mosquitto_loop_misc(d->mosq);  // keepalive pings
        PumpInLoop(d.get());           // a publisher whose source had nothing may have more
        if (d->fd >= 0 && mosquitto_socket(d->mosq) < 0) ClosedInLoop(d.get());
        WatchInLoop(d.get());
      }
    }
  }
}

void MqttSwarm::OnConnect(mosquitto* m, void* obj, int rc) {
  auto* d = static_cast<Device*>(obj);
  MqttSwarm* self = d->swarm;
  if (d->state == Device::State::kConnecting) --self->connecting_;
  if (rc != 0) {
    ++self->refused_;
    self->SetError(std::string("CONNACK refused: ") + mosquitto_connack_string(rc));
    d->state = Device::State::kConnected;  // the broker closes it; counted as refused only
    d->dropping = true;
    return;
  }
  ++self->connects_;
  d->state = Device::State::kConnected;
  d->subscriptions_pending = static_cast<int>(d->endpoint.subscriptions.size());
  if (d->subscriptions_pending == 0) {
    d->state = Device::State::kSubscribed;
    self->subscribed_.fetch_add(1);
    std::lock_guard<std::mutex> lock(self->mu_);
    self->cv_.notify_all();
  }
  for (const std::string& topic : d->endpoint.subscriptions) {
    mosquitto_subscribe(m, nullptr, topic.c_str(), 1);
  }
  self->PumpInLoop(d);
}

void MqttSwarm::OnSubscribe(mosquitto*, void* obj, int, int count, const int* granted) {
  auto* d = static_cast<Device*>(obj);
  MqttSwarm* self = d->swarm;
  for (int i = 0; i < count; ++i) {
    if (granted[i] < 0 || granted[i] > 2) d->subscription_refused = true;
  }
  if (--d->subscriptions_pending > 0) return;
  if (d->subscription_refused) {
    ++self->refused_;
    self->SetError("SUBACK refused a subscription of " + d->endpoint.client_id);
    return;
  }
  d->state = Device::State::kSubscribed;
  self->subscribed_.fetch_add(1);
  std::lock_guard<std::mutex> lock(self->mu_);
  self->cv_.notify_all();
}

void MqttSwarm::OnMessage(mosquitto*, void* obj, const mosquitto_message* msg) {
  auto* d = static_cast<Device*>(obj);
  int64_t now = NowNs();
  d->swarm->on_message_(d->index, msg->topic,
                        std::string_view(static_cast<const char*>(msg->payload),
                                         static_cast<size_t>(msg->payloadlen)),
                        now);
}

void MqttSwarm::OnPublish(mosquitto*, void* obj, int) {
  auto* d = static_cast<Device*>(obj);
  int64_t now = NowNs();
  --d->in_flight;
  if (d->on_ack) d->on_ack(now);
  d->swarm->PumpInLoop(d);
}

void MqttSwarm::OnDisconnect(mosquitto*, void* obj, int) {
  auto* d = static_cast<Device*>(obj);
  if (d->fd >= 0) d->swarm->ClosedInLoop(d);
}

}  // namespace courier::bench
