// The nfqueue backend of Impair(): iptables NFQUEUE in the namespace, and a
// holder thread (libnetfilter_queue) that gives each queued packet its
// verdict now, later, or never.
#include <arpa/inet.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "netns/clock.h"
#include "netns/command.h"
#include "netns/error.h"
#include "netns/impairment.h"
#include "netns/impairment_select.h"
#include "netns/unique_fd.h"

namespace tcprepro::impairment_internal {
namespace {

using Clock = std::chrono::steady_clock;

// Kernel queue length and socket buffer: deep enough that a burst a story
// sends is never dropped by the queue itself.
constexpr uint32_t kQueueMaxLen = 8192;
constexpr int kReceiveBuffer = 8 << 20;

// Bytes of each packet copied to the holder: the IP and TCP headers with
// options, so the rule can record which packet it acted on.
constexpr int kCopyBytes = 128;

// Queue numbers are per namespace; distinct ones keep rules in one namespace apart.
std::atomic<uint16_t> next_queue_number{100};

class NfqueueImpairment final : public Impairment {
 public:
  NfqueueImpairment(const NetNamespace& ns, ImpairmentRule rule)
      : ns_(ns), rule_(std::move(rule)), queue_number_(next_queue_number++), rng_(std::random_device{}()) {
    RequireNotHost(ns_, "install an impairment");
    OpenQueue();
    wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_.valid()) {
      CloseQueue();
      ThrowErrno("eventfd");
    }
    holder_ = std::thread(&NfqueueImpairment::Loop, this);
    // The holder listens before the rule exists, so no match is ever dropped for want of a listener.
    const CommandResult added = RunIn(ns_, Iptables("-A"));
    if (added.exit_status != 0) {
      Stop();
      if (added.exit_status == 127) throw Unsupported("nfqueue backend: " + Tool() + " not found (package iptables)");
      throw Unsupported("nfqueue backend: " + Tool() + " cannot add an NFQUEUE rule here: " + added.output);
    }
  }

  ~NfqueueImpairment() override {
    try {
      RunIn(ns_, Iptables("-D"));
    } catch (const LabError&) {
      // The namespace's end removes the rule anyway.
    }
    Stop();
  }

  void Release() override {
    std::unique_lock lock(mu_);
    release_requested_ = true;
    Wake();
    changed_.wait(lock, [&] { return !release_requested_; });
  }

  uint64_t matched() const override { return matched_.load(); }
  uint64_t impaired() const override { return impaired_.load(); }

  bool WaitMatched(uint64_t count, std::chrono::milliseconds deadline) const override {
    std::unique_lock lock(mu_);
    return changed_.wait_for(lock, deadline, [&] { return matched_.load() >= count; });
  }

  std::string backend() const override { return "nfqueue"; }

  bool records_packets() const override { return true; }

  std::vector<ImpairedPacket> acted_on() const override {
    std::lock_guard lock(mu_);
    return acted_on_;
  }

 private:
  std::string Tool() const { return rule_.match.family == Family::kIpv4 ? "iptables" : "ip6tables"; }

  std::vector<std::string> Iptables(const std::string& op) const {
    const bool egress = rule_.direction == Direction::kEgress;
    std::vector<std::string> argv = {Tool(), "-w", "-t", "mangle", op, egress ? "POSTROUTING" : "PREROUTING",
                                     egress ? "-o" : "-i", rule_.link, "-p", "tcp"};
    const PacketMatch& m = rule_.match;
    if (m.sport) argv.insert(argv.end(), {"--sport", std::to_string(*m.sport)});
    if (m.dport) argv.insert(argv.end(), {"--dport", std::to_string(*m.dport)});
    if (m.flags_mask) argv.insert(argv.end(), {"--tcp-flags", FlagNames(m.flags_mask), FlagNames(m.flags_set)});
    argv.insert(argv.end(), {"-j", "NFQUEUE", "--queue-num", std::to_string(queue_number_)});
    return argv;
  }

  void OpenQueue() {
    // The netlink socket, like every socket, belongs to the namespace it is opened in.
    NamespaceGuard inside(ns_);
    handle_ = nfq_open();
    if (!handle_) ThrowErrno("nfq_open in " + ns_.label());
    queue_ = nfq_create_queue(handle_, queue_number_, &NfqueueImpairment::OnPacket, this);
    if (!queue_) {
      nfq_close(handle_);
      throw Unsupported("nfqueue backend: cannot bind queue " + std::to_string(queue_number_) +
                        " (kernel CONFIG_NETFILTER_NETLINK_QUEUE)");
    }
    // Verdicts need only the packet id; the headers are copied for the rule's record.
    if (nfq_set_mode(queue_, NFQNL_COPY_PACKET, kCopyBytes) < 0 || nfq_set_queue_maxlen(queue_, kQueueMaxLen) < 0) {
      CloseQueue();
      ThrowErrno("configuring nfqueue " + std::to_string(queue_number_));
    }
    nfnl_rcvbufsiz(nfq_nfnlh(handle_), kReceiveBuffer);
  }

  void CloseQueue() {
    if (queue_) nfq_destroy_queue(queue_);
    if (handle_) nfq_close(handle_);
    queue_ = nullptr;
    handle_ = nullptr;
  }

  void Stop() {
    if (holder_.joinable()) {
      {
        std::lock_guard lock(mu_);
        stopping_ = true;
      }
      Wake();
      holder_.join();
    }
    CloseQueue();
  }

  void Wake() {
    const uint64_t one = 1;
    (void)!::write(wake_.get(), &one, sizeof one);
  }

  static int OnPacket(nfq_q_handle*, nfgenmsg*, nfq_data* data, void* self) {
    auto* me = static_cast<NfqueueImpairment*>(self);
    const nfqnl_msg_packet_hdr* header = nfq_get_msg_packet_hdr(data);
    unsigned char* packet = nullptr;
    const int length = nfq_get_payload(data, &packet);
    std::optional<TcpSegment> seen;
    if (length > 0) seen = ParseIpPacket(packet, static_cast<size_t>(length), EpochSeconds());
    if (header) me->Decide(ntohl(header->packet_id), seen);
    return 0;
  }

  // Runs on the holder thread, under mu_. Counters move before the verdict,
  // so a story that saw the packet also sees it counted.
  void Decide(uint32_t id, const std::optional<TcpSegment>& seen) {
    const uint64_t n = ++matched_;
    const bool applies = !released_ && (rule_.match.nth == 0 || n == static_cast<uint64_t>(rule_.match.nth));
    changed_.notify_all();
    using Kind = ImpairAction::Kind;
    const Kind kind = rule_.action.kind;
    const bool impair = applies && (kind != Kind::kDropShare || std::bernoulli_distribution(rule_.action.share)(rng_));
    if (!impair) {
      nfq_set_verdict(queue_, id, NF_ACCEPT, 0, nullptr);
      return;
    }
    ++impaired_;
    if (seen) {
      acted_on_.push_back({*seen, kind == Kind::kDelay ? "delayed" : kind == Kind::kHold ? "held" : "dropped"});
    }
    switch (kind) {
      case Kind::kDelay:
        delayed_.emplace(Clock::now() + rule_.action.delay, id);
        break;
      case Kind::kHold:
        held_.push_back(id);
        break;
      case Kind::kDrop:
      case Kind::kDropShare:
        nfq_set_verdict(queue_, id, NF_DROP, 0, nullptr);
        break;
    }
  }

  void AcceptAll(std::vector<uint32_t>& ids) {
    for (uint32_t id : ids) nfq_set_verdict(queue_, id, NF_ACCEPT, 0, nullptr);
    ids.clear();
  }

  void Loop() {
    std::vector<char> buf(1 << 16);
    const int queue_fd = nfq_fd(handle_);
    for (;;) {
      int timeout_ms = -1;
      {
        std::lock_guard lock(mu_);
        if (!delayed_.empty()) {
          const auto wait = delayed_.begin()->first - Clock::now();
          timeout_ms = std::max<int>(0, std::chrono::ceil<std::chrono::milliseconds>(wait).count());
        }
      }
      struct pollfd fds[2] = {{queue_fd, POLLIN, 0}, {wake_.get(), POLLIN, 0}};
      ::poll(fds, 2, timeout_ms);

      std::lock_guard lock(mu_);
      if (fds[0].revents & POLLIN) {
        ssize_t n;
        while ((n = ::recv(queue_fd, buf.data(), buf.size(), MSG_DONTWAIT)) > 0) {
          nfq_handle_packet(handle_, buf.data(), static_cast<int>(n));
        }
      }
      if (fds[1].revents & POLLIN) {
        uint64_t ignored;
        (void)!::read(wake_.get(), &ignored, sizeof ignored);
      }
      const auto now = Clock::now();
      while (!delayed_.empty() && delayed_.begin()->first <= now) {
        nfq_set_verdict(queue_, delayed_.begin()->second, NF_ACCEPT, 0, nullptr);
        delayed_.erase(delayed_.begin());
      }
      if (release_requested_) {
        AcceptAll(held_);
        released_ = true;
        release_requested_ = false;
        changed_.notify_all();
      }
      if (stopping_) {
        // Nothing stays in the queue: what the rule still holds is delivered.
        AcceptAll(held_);
        for (const auto& [when, id] : delayed_) nfq_set_verdict(queue_, id, NF_ACCEPT, 0, nullptr);
        delayed_.clear();
        return;
      }
    }
  }

  const NetNamespace& ns_;
  const ImpairmentRule rule_;
  const uint16_t queue_number_;
  nfq_handle* handle_ = nullptr;
  nfq_q_handle* queue_ = nullptr;
  UniqueFd wake_;
  std::thread holder_;

  mutable std::mutex mu_;
  mutable std::condition_variable changed_;
  std::atomic<uint64_t> matched_{0}, impaired_{0};
  bool release_requested_ = false, released_ = false, stopping_ = false;
  std::vector<uint32_t> held_;
  std::vector<ImpairedPacket> acted_on_;
  std::multimap<Clock::time_point, uint32_t> delayed_;
  std::mt19937_64 rng_;
};

}  // namespace

std::unique_ptr<Impairment> InstallNfqueue(const NetNamespace& ns, const ImpairmentRule& rule) {
  return std::make_unique<NfqueueImpairment>(ns, rule);
}

}  // namespace tcprepro::impairment_internal
