// The netem backend of Impair(): tc in the namespace, so that the kernel alone
// impairs the chosen packets.
//
//   egress   dev L root 1: prio, priomap all -> band 1 (1:1)
//            u32 filter (family, ports, TCP flag byte) -> 1:3, action gact ok
//            1:3 -> 30: netem delay | netem loss | plug
//   ingress  dev L ingress qdisc, the same u32 filter -> mirred redirect to ifb
//            ifb root 30: netem | plug; ifb hands the packet back to L's
//            receive path once the leaf lets it go
//
// Evidence: egress, the capture sees a match when the leaf lets it go;
// ingress, when it arrives on L and again, delivered, leaving the ifb (checked
// on 6.1 with tcpdump: "vb In", then 50 ms later "ifb0 Out").
//
// The filter's action counts matches; the leaf qdisc's statistics count what
// was delayed, lost or held. Hold is sch_plug, released through rtnetlink (tc
// has no plug options to "change"): netem cannot hold until an event, because
// `tc qdisc change ... delay 0` leaves packets already queued at their old
// time_to_send (measured on 6.1: a ping queued under 8 s came back after 8 s
// although the delay was changed to 0 after 1 s; a later ping overtook it).
#include <linux/netlink.h>
#include <linux/pkt_sched.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <sys/socket.h>

#include <atomic>
#include <cstring>
#include <mutex>
#include <regex>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "netns/clock.h"
#include "netns/command.h"
#include "netns/error.h"
#include "netns/impairment.h"
#include "netns/impairment_select.h"
#include "netns/unique_fd.h"

namespace tcprepro::impairment_internal {
namespace {

using namespace std::chrono_literals;
using Argv = std::vector<std::string>;

constexpr const char* kLeafHandle = "30:";
constexpr uint32_t kLeafHandleId = 0x30u << 16;
// Deep enough that a story's burst is never lost to the leaf's own limit.
constexpr const char* kNetemLimit = "100000";
// How often WaitMatched() reads the counters (each read runs tc).
constexpr auto kPollInterval = 5ms;

// A tc feature probe: ok, or why not ("netem backend: ...").
struct Probe {
  bool ok = false;
  std::string why;
};

// Runs the steps in a throwaway namespace; the first failing one says why.
Probe RunProbe(const std::vector<std::pair<Argv, std::string>>& steps) {
  try {
    const NetNamespace scratch = NetNamespace::Create("netem-probe");
    for (const auto& [argv, needs] : steps) {
      const CommandResult result = RunIn(scratch, argv);
      if (result.exit_status == 127) return {false, "netem backend: " + argv[0] + " not found (package iproute2)"};
      if (result.exit_status != 0) {
        std::string said = result.output;
        while (!said.empty() && (said.back() == '\n' || said.back() == ' ')) said.pop_back();
        std::string line;
        for (const auto& arg : argv) line += (line.empty() ? "" : " ") + arg;
        return {false, "netem backend: `" + line + "` says \"" + said + "\" (needs " + needs + ")"};
      }
    }
    return {true, ""};
  } catch (const LabError& error) {
    return {false, std::string("netem backend: probe failed: ") + error.what()};
  }
}

const Probe& NetemProbe() {
  static const Probe probe = RunProbe({
      {{"tc", "qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"}, "sch_netem, CONFIG_NET_SCH_NETEM"},
      {{"tc", "qdisc", "del", "dev", "lo", "root"}, "tc"},
      {{"tc", "qdisc", "add", "dev", "lo", "root", "handle", "1:", "prio"}, "sch_prio, CONFIG_NET_SCH_PRIO"},
      {{"tc", "filter", "add", "dev", "lo", "parent", "1:", "protocol", "ip", "prio", "1", "u32", "match", "u8", "6",
        "0xff", "at", "9", "flowid", "1:3", "action", "gact", "ok"},
       "cls_u32 and act_gact, CONFIG_NET_CLS_U32 and CONFIG_NET_ACT_GACT"},
  });
  return probe;
}

const Probe& IngressProbe() {
  static const Probe probe = RunProbe({
      {{"ip", "link", "add", "probe-ifb", "type", "ifb"}, "ifb, CONFIG_IFB"},
      {{"tc", "qdisc", "add", "dev", "lo", "handle", "ffff:", "ingress"}, "sch_ingress, CONFIG_NET_SCH_INGRESS"},
      {{"tc", "filter", "add", "dev", "lo", "parent", "ffff:", "protocol", "ip", "prio", "1", "u32", "match", "u8", "6",
        "0xff", "at", "9", "action", "mirred", "egress", "redirect", "dev", "probe-ifb"},
       "act_mirred, CONFIG_NET_ACT_MIRRED"},
  });
  return probe;
}

const Probe& PlugProbe() {
  static const Probe probe =
      RunProbe({{{"tc", "qdisc", "add", "dev", "lo", "root", "plug"}, "sch_plug, CONFIG_NET_SCH_PLUG"}});
  return probe;
}

// One prio root (or ingress qdisc) per link and direction: a second rule there
// goes to another backend.
class LinkSlots {
 public:
  using Key = std::tuple<ino_t, std::string, Direction>;
  bool Busy(const Key& key) {
    std::lock_guard lock(mu_);
    return taken_.count(key) > 0;
  }
  bool Take(const Key& key) {
    std::lock_guard lock(mu_);
    return taken_.insert(key).second;
  }
  void Give(const Key& key) {
    std::lock_guard lock(mu_);
    taken_.erase(key);
  }

 private:
  std::mutex mu_;
  std::set<Key> taken_;
};

LinkSlots& Slots() {
  static LinkSlots slots;
  return slots;
}

std::string Hex(unsigned value) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%x", value);
  return buf;
}

// u32 keys, at offsets from the network header. IPv4: only headers without
// options (ihl 5), which is all Linux TCP sends; IPv6: TCP right after the
// fixed header (no extension headers).
Argv U32Filter(const PacketMatch& m) {
  const bool v4 = m.family == Family::kIpv4;
  const int l4 = v4 ? 20 : 40;
  Argv argv = {"protocol", v4 ? "ip" : "ipv6", "prio", "1", "u32"};
  auto key = [&](const char* size, unsigned value, unsigned mask, int at) {
    argv.insert(argv.end(), {"match", size, Hex(value), Hex(mask), "at", std::to_string(at)});
  };
  if (v4) key("u8", 0x05, 0x0f, 0);  // ihl
  key("u8", 6, 0xff, v4 ? 9 : 6);    // protocol / next header: TCP
  if (m.sport) key("u16", *m.sport, 0xffff, l4);
  if (m.dport) key("u16", *m.dport, 0xffff, l4 + 2);
  if (m.flags_mask) key("u8", m.flags_set, m.flags_mask, l4 + 13);
  return argv;
}

std::string Microseconds(std::chrono::microseconds d) { return std::to_string(d.count()) + "us"; }

Argv Leaf(const ImpairAction& action) {
  using Kind = ImpairAction::Kind;
  switch (action.kind) {
    case Kind::kDelay:
      return {"netem", "limit", kNetemLimit, "delay", Microseconds(action.delay)};
    case Kind::kDrop:
      return {"netem", "limit", kNetemLimit, "loss", "100%"};
    case Kind::kDropShare:
      return {"netem", "limit", kNetemLimit, "loss", std::to_string(action.share * 100) + "%"};
    case Kind::kHold:
      return {"plug"};  // born plugged: nothing leaves until released
  }
  return {};
}

// "Sent 1234 bytes 5 pkt (dropped 1, ...)" and "backlog 60b 1p".
struct TcCounts {
  uint64_t sent = 0, dropped = 0, backlog = 0;
};

TcCounts ParseCounts(const std::string& text) {
  static const std::regex kSent(R"(Sent \d+ bytes (\d+) pkt \(dropped (\d+))");
  static const std::regex kBacklog(R"(backlog \S+ (\d+)p)");
  TcCounts counts;
  std::smatch m;
  if (std::regex_search(text, m, kSent)) {
    counts.sent = std::stoull(m[1]);
    counts.dropped = std::stoull(m[2]);
  }
  if (std::regex_search(text, m, kBacklog)) counts.backlog = std::stoull(m[1]);
  return counts;
}

// Sends RTM_NEWQDISC "change" to the plug qdisc 30: on `dev`: release
// everything it holds and pass later packets (TCQ_PLUG_RELEASE_INDEFINITE).
void ReleasePlug(const NetNamespace& ns, const std::string& dev) {
  NamespaceGuard inside(ns);
  const unsigned ifindex = ::if_nametoindex(dev.c_str());
  if (ifindex == 0) ThrowErrno("if_nametoindex(" + dev + ") in " + ns.label());
  UniqueFd sock(::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  if (!sock.valid()) ThrowErrno("socket(NETLINK_ROUTE) in " + ns.label());

  struct {
    nlmsghdr header;
    tcmsg tc;
    char attributes[64];
  } request{};
  request.header.nlmsg_type = RTM_NEWQDISC;  // without NLM_F_CREATE: change an existing one
  request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  request.header.nlmsg_seq = 1;
  request.tc.tcm_family = AF_UNSPEC;
  request.tc.tcm_ifindex = static_cast<int>(ifindex);
  request.tc.tcm_handle = kLeafHandleId;
  size_t length = NLMSG_LENGTH(sizeof(tcmsg));
  auto put = [&](unsigned short type, const void* data, size_t size) {
    auto* attribute = reinterpret_cast<rtattr*>(reinterpret_cast<char*>(&request) + NLMSG_ALIGN(length));
    attribute->rta_type = type;
    attribute->rta_len = static_cast<unsigned short>(RTA_LENGTH(size));
    std::memcpy(RTA_DATA(attribute), data, size);
    length = NLMSG_ALIGN(length) + RTA_ALIGN(attribute->rta_len);
  };
  put(TCA_KIND, "plug", 5);
  const tc_plug_qopt release = {TCQ_PLUG_RELEASE_INDEFINITE, 0};
  put(TCA_OPTIONS, &release, sizeof release);
  request.header.nlmsg_len = static_cast<uint32_t>(length);

  sockaddr_nl kernel{};
  kernel.nl_family = AF_NETLINK;
  if (::sendto(sock.get(), &request, length, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel) < 0) {
    ThrowErrno("rtnetlink plug release on " + dev);
  }
  char reply[4096];
  const ssize_t n = ::recv(sock.get(), reply, sizeof reply, 0);
  if (n < static_cast<ssize_t>(NLMSG_LENGTH(sizeof(nlmsgerr)))) ThrowErrno("rtnetlink plug release reply");
  const auto* answer = reinterpret_cast<const nlmsghdr*>(reply);
  const auto* error = static_cast<const nlmsgerr*>(NLMSG_DATA(answer));
  if (answer->nlmsg_type != NLMSG_ERROR || error->error != 0) {
    errno = answer->nlmsg_type == NLMSG_ERROR ? -error->error : EPROTO;
    ThrowErrno("releasing plug 30: on " + dev + " in " + ns.label());
  }
}

// tc commands done, undone in reverse order when the owner ends.
class Steps {
 public:
  explicit Steps(const NetNamespace& ns) : ns_(ns) {}
  ~Steps() { UndoAll(); }
  Steps(const Steps&) = delete;
  Steps& operator=(const Steps&) = delete;

  void Do(const Argv& argv, Argv undo) {
    CheckedRunIn(ns_, argv);
    undo_.push_back(std::move(undo));
  }
  void UndoAll() {
    while (!undo_.empty()) UndoLast();
  }
  void UndoLast() {
    Argv argv = std::move(undo_.back());
    undo_.pop_back();
    if (argv.empty()) return;
    try {
      RunIn(ns_, argv);
    } catch (const LabError&) {
      // The namespace's end removes it anyway.
    }
  }

 private:
  const NetNamespace& ns_;
  std::vector<Argv> undo_;
};

std::atomic<unsigned> next_ifb{0};

class NetemImpairment final : public Impairment {
 public:
  NetemImpairment(const NetNamespace& ns, ImpairmentRule rule)
      : ns_(ns), rule_(std::move(rule)), slot_{ns.inode(), rule_.link, rule_.direction}, steps_(ns) {
    RequireNotHost(ns_, "install an impairment");
    if (!Slots().Take(slot_)) throw Unsupported("netem backend: " + rule_.link + " already carries a netem rule");
    try {
      if (rule_.direction == Direction::kEgress) {
        InstallEgress();
      } else {
        InstallIngress();
      }
    } catch (...) {
      steps_.UndoAll();  // before giving the slot back
      Slots().Give(slot_);
      throw;
    }
  }

  ~NetemImpairment() override {
    try {
      if (IsHold() && !released_) ReleasePlug(ns_, leaf_dev_);
    } catch (const LabError&) {
      // Removing the plug below drops what it held; nothing better is left.
    }
    if (!filter_removed_) steps_.UndoLast();  // the filter: no new matches
    DrainLeaf();
    steps_.UndoAll();
    Slots().Give(slot_);
  }

  // Hold: the plug lets everything go and passes later matches (still
  // counted). Other kinds: the filter goes, so later matches pass uncounted;
  // packets already delayed keep their time, as with nfqueue.
  void Release() override {
    if (released_) return;
    impaired_at_release_ = impaired();
    if (IsHold()) {
      ReleasePlug(ns_, leaf_dev_);
    } else {
      matched_at_release_ = matched();
      steps_.UndoLast();
      filter_removed_ = true;
    }
    released_ = true;
  }

  uint64_t matched() const override {
    if (filter_removed_) return matched_at_release_;
    return ParseCounts(CheckedRunIn(ns_, {"tc", "-s", "filter", "show", "dev", rule_.link, "parent", filter_parent_}))
        .sent;
  }

  uint64_t impaired() const override {
    using Kind = ImpairAction::Kind;
    if (released_) return impaired_at_release_;
    const TcCounts counts = LeafCounts();
    const Kind kind = rule_.action.kind;
    return kind == Kind::kDrop || kind == Kind::kDropShare ? counts.dropped : counts.sent + counts.backlog;
  }

  bool WaitMatched(uint64_t count, std::chrono::milliseconds deadline) const override {
    return WaitFor([&] { return matched() >= count; }, deadline);
  }

  std::string backend() const override { return "netem"; }

 private:
  void InstallEgress() {
    const std::string& dev = rule_.link;
    leaf_dev_ = dev;
    filter_parent_ = "1:";
    Argv prio = {"tc", "qdisc", "add", "dev", dev, "root", "handle", "1:", "prio", "bands", "3", "priomap"};
    prio.insert(prio.end(), 16, "0");  // every priority to band 1: only the filter reaches band 3
    steps_.Do(prio, {"tc", "qdisc", "del", "dev", dev, "root"});
    Argv leaf = {"tc", "qdisc", "add", "dev", dev, "parent", "1:3", "handle", kLeafHandle};
    const Argv kind = Leaf(rule_.action);
    leaf.insert(leaf.end(), kind.begin(), kind.end());
    steps_.Do(leaf, {});  // goes with the root
    Argv filter = {"tc", "filter", "add", "dev", dev, "parent", "1:"};
    const Argv match = U32Filter(rule_.match);
    filter.insert(filter.end(), match.begin(), match.end());
    filter.insert(filter.end(), {"flowid", "1:3", "action", "gact", "ok"});
    steps_.Do(filter, {"tc", "filter", "del", "dev", dev, "parent", "1:", "prio", "1"});
  }

  void InstallIngress() {
    const std::string& dev = rule_.link;
    leaf_dev_ = "tcprepro-ifb" + std::to_string(next_ifb++ % 1000);
    filter_parent_ = "ffff:";
    steps_.Do({"ip", "link", "add", leaf_dev_, "txqueuelen", "1000", "type", "ifb"},
              {"ip", "link", "del", leaf_dev_});
    steps_.Do({"ip", "link", "set", leaf_dev_, "up"}, {});
    Argv leaf = {"tc", "qdisc", "add", "dev", leaf_dev_, "root", "handle", kLeafHandle};
    const Argv kind = Leaf(rule_.action);
    leaf.insert(leaf.end(), kind.begin(), kind.end());
    steps_.Do(leaf, {});  // goes with the ifb
    steps_.Do({"tc", "qdisc", "add", "dev", dev, "handle", "ffff:", "ingress"},
              {"tc", "qdisc", "del", "dev", dev, "handle", "ffff:", "ingress"});
    Argv filter = {"tc", "filter", "add", "dev", dev, "parent", "ffff:"};
    const Argv match = U32Filter(rule_.match);
    filter.insert(filter.end(), match.begin(), match.end());
    filter.insert(filter.end(), {"action", "mirred", "egress", "redirect", "dev", leaf_dev_});
    steps_.Do(filter, {"tc", "filter", "del", "dev", dev, "parent", "ffff:", "prio", "1"});
  }

  bool IsHold() const { return rule_.action.kind == ImpairAction::Kind::kHold; }

  TcCounts LeafCounts() const {
    // Only the leaf's own block: "qdisc <kind> 30: ..." up to the next "qdisc".
    const std::string all = CheckedRunIn(ns_, {"tc", "-s", "qdisc", "show", "dev", leaf_dev_});
    const size_t at = all.find(std::string(" ") + kLeafHandle + " ");
    if (at == std::string::npos) return {};
    return ParseCounts(all.substr(at, all.find("qdisc ", at) - at));
  }

  // What the leaf still queues is delivered, not dropped with the qdisc:
  // wait (bounded) until it has left.
  void DrainLeaf() {
    const auto until = std::chrono::steady_clock::now() + rule_.action.delay + 2s;
    try {
      while (LeafCounts().backlog > 0 && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(kPollInterval);
      }
    } catch (const LabError&) {
      // Cannot read it: remove it anyway.
    }
  }

  const NetNamespace& ns_;
  const ImpairmentRule rule_;
  const LinkSlots::Key slot_;
  Steps steps_;
  std::string leaf_dev_, filter_parent_;
  bool released_ = false, filter_removed_ = false;
  uint64_t matched_at_release_ = 0, impaired_at_release_ = 0;
};

}  // namespace

bool NetemCanExpress(const NetNamespace& ns, const ImpairmentRule& rule, std::string& why) {
  RequireNotHost(ns, "install an impairment");
  if (rule.match.nth != 0) {
    why = "netem backend: tc cannot impair only the n-th match (gact 'random determ' and netem 'gap' repeat every "
          "n-th)";
    return false;
  }
  if (Slots().Busy({ns.inode(), rule.link, rule.direction})) {
    why = "netem backend: " + rule.link + " already carries a netem rule in that direction";
    return false;
  }
  for (const Probe* probe : {&NetemProbe(),
                             rule.direction == Direction::kIngress ? &IngressProbe() : nullptr,
                             rule.action.kind == ImpairAction::Kind::kHold ? &PlugProbe() : nullptr}) {
    if (probe && !probe->ok) {
      why = probe->why;
      return false;
    }
  }
  return true;
}

std::unique_ptr<Impairment> InstallNetem(const NetNamespace& ns, const ImpairmentRule& rule) {
  return std::make_unique<NetemImpairment>(ns, rule);
}

}  // namespace tcprepro::impairment_internal
