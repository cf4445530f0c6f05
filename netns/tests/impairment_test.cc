// Conformance of the impairment backends, one rule set for each, checked from
// captures: a held RST arrives after its release and not before; a dropped
// segment's retransmission passes once the rule is released; exactly the n-th
// match is dropped; a fixed delay is within tolerance; a drop share is within
// a binomial bound; removing rules leaves no rule, qdisc, filter or queue; the
// host is refused. A backend this kernel lacks, or a rule it cannot express,
// skips with the reason — never a pass.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <stdlib.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "netns/capture.h"
#include "netns/command.h"
#include "netns/error.h"
#include "netns/impairment.h"
#include "netns/link.h"
#include "netns/namespace.h"
#include "netns/pcap_reader.h"
#include "netns/socket.h"

namespace tcprepro {

// gtest prints the parameter by name (readable CTest names); found by ADL, so
// outside the anonymous namespace.
void PrintTo(ImpairmentBackend backend, std::ostream* os) { *os << BackendName(backend); }

namespace {

using namespace std::chrono_literals;

constexpr uint16_t kPort = 8000;
// A delay measured from a capture is off by scheduling, the holder's wake-up
// (nfqueue) or the qdisc watchdog (netem); this bounds it on a loaded 2-core
// machine. Under TCG emulation timers are coarser: TCPREPRO_DELAY_TOLERANCE_MS
// widens it there.
double DelayToleranceMs() {
  const char* value = std::getenv("TCPREPRO_DELAY_TOLERANCE_MS");
  return value && *value ? std::stod(value) : 5.0;
}

// Installs with the backend under test, or skips the test with the reason.
#define IMPAIR_OR_SKIP(var, ns, ...)                                    \
  std::unique_ptr<Impairment> var;                                      \
  try {                                                                 \
    var = Impair(ns, __VA_ARGS__, GetParam());                          \
  } catch (const Unsupported& unsupported) {                            \
    GTEST_SKIP() << "skipped: " << unsupported.what();                  \
  }                                                                     \
  ASSERT_EQ(var->backend(), BackendName(GetParam()))

// Client and server namespaces joined by a veth pair, each captured.
class Conformance : public ::testing::TestWithParam<ImpairmentBackend> {
 protected:
  void SetUp() override {
    std::string name = ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    dir_ = std::filesystem::temp_directory_path() / ("tcprepro-impairment-" + std::to_string(::getpid()) + "-" + name);
    std::filesystem::create_directories(dir_);
    client_ = std::make_unique<NetNamespace>(NetNamespace::Create("client"));
    server_ = std::make_unique<NetNamespace>(NetNamespace::Create("server"));
    veth_ = std::make_unique<VethPair>(VethEnd{client_.get(), "c0", {"10.7.0.1/24"}},
                                       VethEnd{server_.get(), "s0", {"10.7.0.2/24"}});
    client_capture_ = std::make_unique<PacketCapture>(*client_, dir_ / "client.pcap");
    server_capture_ = std::make_unique<PacketCapture>(*server_, dir_ / "server.pcap");
  }
  void TearDown() override {
    client_capture_.reset();
    server_capture_.reset();
    if (!HasFailure()) std::filesystem::remove_all(dir_);
  }

  std::vector<TcpSegment> Stop(PacketCapture& capture) {
    capture.Stop();
    return ReadTcpSegments(capture.file());
  }

  UniqueFd Listen() {
    NamespaceGuard inside(*server_);
    UniqueFd fd = TcpSocket(Family::kIpv4);
    SetReuseAddr(fd.get());
    EXPECT_EQ(BindErrno(fd.get(), {"10.7.0.2", kPort}), 0);
    EXPECT_EQ(ListenErrno(fd.get()), 0);
    return fd;
  }

  // A connected client socket and the server's accepted end.
  std::pair<UniqueFd, UniqueFd> Connect(const UniqueFd& listener, int timeout_ms) {
    UniqueFd client;
    {
      NamespaceGuard inside(*client_);
      client = TcpSocket(Family::kIpv4);
      SetIoTimeout(client.get(), timeout_ms);
      EXPECT_EQ(ConnectErrno(client.get(), {"10.7.0.2", kPort}), 0);
    }
    UniqueFd accepted(::accept(listener.get(), nullptr, nullptr));
    EXPECT_TRUE(accepted.valid());
    SetIoTimeout(accepted.get(), timeout_ms);
    return {std::move(client), std::move(accepted)};
  }

  std::filesystem::path dir_;
  std::unique_ptr<NetNamespace> client_, server_;
  std::unique_ptr<VethPair> veth_;
  std::unique_ptr<PacketCapture> client_capture_, server_capture_;
};

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST_P(Conformance, HeldRstArrivesAfterReleaseAndNotBefore) {
  // Nobody listens: the server's stack answers the SYN with RST, which the rule holds.
  IMPAIR_OR_SKIP(hold, *server_,
                 {"s0", Direction::kEgress, {Family::kIpv4, kPort, std::nullopt, kTcpRst, kTcpRst, 0},
                  ImpairAction::Hold()});
  NamespaceGuard inside(*client_);
  UniqueFd fd = TcpSocket(Family::kIpv4);
  ::fcntl(fd.get(), F_SETFL, O_NONBLOCK);
  ASSERT_EQ(ConnectErrno(fd.get(), {"10.7.0.2", kPort}), EINPROGRESS);
  ASSERT_TRUE(hold->WaitMatched(1, 5s));
  std::this_thread::sleep_for(50ms);  // time for a leak to show
  EXPECT_EQ(TcpState(fd.get()), "SYN_SENT") << "the RST got through before its release";
  const double released_at = Now();
  hold->Release();
  struct pollfd pfd = {fd.get(), POLLOUT, 0};
  ASSERT_EQ(::poll(&pfd, 1, 5000), 1);
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  EXPECT_EQ(ErrnoName(err), "ECONNREFUSED");
  // Usually one RST; a slow machine (TCG) may retransmit the SYN before the
  // release and so get a second one, held as well.
  const uint64_t held = hold->impaired();
  EXPECT_GE(held, 1u);
  // A backend that sees packets records each one it held, with its headers.
  if (hold->records_packets()) {
    const auto acted = hold->acted_on();
    ASSERT_EQ(acted.size(), held);
    EXPECT_EQ(acted[0].action, "held");
    EXPECT_TRUE(acted[0].segment.rst());
    EXPECT_EQ(acted[0].segment.sport, kPort);
    EXPECT_EQ(acted[0].segment.src, "10.7.0.2");
  }

  // Both ends' captures: every held RST leaves the server, and reaches the
  // client, only after the release.
  for (PacketCapture* capture : {server_capture_.get(), client_capture_.get()}) {
    uint64_t rsts = 0;
    for (const auto& seg : Stop(*capture)) {
      if (!seg.rst()) continue;
      ++rsts;
      EXPECT_GE(seg.time, released_at) << capture->namespace_label() << " saw the RST before it was released";
    }
    // A SYN retransmitted just before the release is answered after it,
    // by an RST the rule no longer holds: more RSTs than held, never fewer.
    EXPECT_GE(rsts, held) << capture->namespace_label();
  }
}

TEST_P(Conformance, DroppedSegmentsRetransmissionPassesAfterRelease) {
  UniqueFd listener = Listen();
  auto [client, accepted] = Connect(listener, 5000);
  // Data segments carry PSH; the handshake does not.
  IMPAIR_OR_SKIP(drop, *client_,
                 {"c0", Direction::kEgress, {Family::kIpv4, std::nullopt, kPort, kTcpPsh, kTcpPsh, 0},
                  ImpairAction::Drop()});
  const std::string message = "dropped-then-retransmitted";
  ASSERT_EQ(::send(client.get(), message.data(), message.size(), 0), static_cast<ssize_t>(message.size()));
  ASSERT_TRUE(drop->WaitMatched(1, 5s));
  EXPECT_GE(drop->impaired(), 1u);
  const double released_at = Now();
  drop->Release();
  std::string got(message.size(), '\0');
  ASSERT_EQ(::recv(accepted.get(), got.data(), got.size(), MSG_WAITALL), static_cast<ssize_t>(got.size()));
  EXPECT_EQ(got, message);

  // The server saw the data once: the retransmission, after the release.
  int arrived = 0;
  for (const auto& seg : Stop(*server_capture_)) {
    if (seg.dport != kPort || seg.payload == 0) continue;
    ++arrived;
    EXPECT_GE(seg.time, released_at);
  }
  EXPECT_EQ(arrived, 1);
}

TEST_P(Conformance, ExactlyTheNthMatchIsDroppedAndItsRetransmissionPasses) {
  UniqueFd listener = Listen();
  // The client sends SYN, ACK, then one segment per message (the server sends
  // no data, so no pure ACKs): match #5 is the third message. Its
  // retransmission is match #6 and must pass.
  IMPAIR_OR_SKIP(drop, *client_,
                 {"c0", Direction::kEgress, {Family::kIpv4, std::nullopt, kPort, 0, 0, 5}, ImpairAction::Drop()});
  auto [client, accepted] = Connect(listener, 5000);
  for (int i = 1; i <= 5; ++i) {
    // One message in flight at a time: each is one segment.
    const std::string message = "message-" + std::to_string(i);
    ASSERT_EQ(::send(client.get(), message.data(), message.size(), 0), static_cast<ssize_t>(message.size()));
    std::string got(message.size(), '\0');
    ASSERT_EQ(::recv(accepted.get(), got.data(), got.size(), MSG_WAITALL), static_cast<ssize_t>(got.size()));
    EXPECT_EQ(got, message);
  }
  EXPECT_EQ(drop->impaired(), 1u);
  EXPECT_EQ(drop->matched(), 8u) << "handshake, five messages and one retransmission";

  std::vector<uint32_t> sent, arrived;
  for (const auto& seg : Stop(*client_capture_)) {
    if (seg.dport == kPort && seg.payload > 0) sent.push_back(seg.seq);
  }
  for (const auto& seg : Stop(*server_capture_)) {
    if (seg.dport == kPort && seg.payload > 0) arrived.push_back(seg.seq);
  }
  // The capture taps after the hook: the dropped original never reaches the wire.
  ASSERT_EQ(sent.size(), 5u);
  EXPECT_EQ(arrived, sent);
}

TEST_P(Conformance, FixedDelayIsWithinTolerance) {
  UniqueFd listener = Listen();
  const auto delay = 50ms;
  // Ingress on the server: its capture sees the SYN arrive (before the hook;
  // for netem also leaving the ifb when delivered, as "ifb Out") and its
  // SYN-ACK leave once the delayed SYN is delivered.
  IMPAIR_OR_SKIP(slow, *server_,
                 {"s0", Direction::kIngress, {Family::kIpv4, std::nullopt, kPort, kTcpSyn | kTcpAck, kTcpSyn, 0},
                  ImpairAction::Delay(delay)});
  constexpr int kConnects = 10;
  for (int i = 0; i < kConnects; ++i) {
    NamespaceGuard inside(*client_);
    UniqueFd fd = TcpSocket(Family::kIpv4);
    SetIoTimeout(fd.get(), 5000);
    ASSERT_EQ(ConnectErrno(fd.get(), {"10.7.0.2", kPort}), 0);
    UniqueFd(::accept(listener.get(), nullptr, nullptr));
  }
  EXPECT_EQ(slow->matched(), static_cast<uint64_t>(kConnects));
  std::map<uint16_t, double> syn_at;
  std::vector<double> errors_ms;
  for (const auto& seg : Stop(*server_capture_)) {
    if (seg.syn() && !seg.has_ack()) syn_at.emplace(seg.sport, seg.time);  // the first sight: arrival
    if (seg.syn() && seg.has_ack() && syn_at.count(seg.dport)) {
      errors_ms.push_back((seg.time - syn_at[seg.dport]) * 1e3 - 50.0);
    }
  }
  ASSERT_EQ(errors_ms.size(), static_cast<size_t>(kConnects));
  const double tolerance = DelayToleranceMs();
  double mean = 0, worst = 0;
  for (double e : errors_ms) {
    EXPECT_GE(e, -0.1) << "delivered early";
    EXPECT_LE(e, tolerance);
    mean += e / kConnects;
    worst = std::max(worst, e);
  }
  RecordProperty("mean_delay_error_us", static_cast<int>(mean * 1000));
  std::printf("%s: delay error over %d SYNs: mean %.3f ms, worst %.3f ms (tolerance %.1f ms)\n",
              BackendName(GetParam()).c_str(), kConnects, mean, worst, tolerance);
}

TEST_P(Conformance, DropShareIsWithinABinomialBound) {
  UniqueFd listener = Listen();
  constexpr double kShare = 0.2;
  // Pure ACKs from the server: many, cheap, and their loss does not stall the transfer.
  IMPAIR_OR_SKIP(lossy, *server_,
                 {"s0", Direction::kEgress,
                  {Family::kIpv4, kPort, std::nullopt, kTcpSyn | kTcpFin | kTcpRst | kTcpPsh | kTcpAck, kTcpAck, 0},
                  ImpairAction::DropShare(kShare)});
  auto [client, accepted] = Connect(listener, 10000);
  // Without Nagle, a lost ACK cannot hold back the next message.
  SetIntOption(client.get(), IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
  // Small messages, each echoed by the server's ACK: about one pure ACK per message.
  std::string chunk(100, 'x');
  for (int i = 0; i < 1000; ++i) {
    // Quick ACKs: one immediate ACK per message instead of a 40 ms delayed one.
    SetIntOption(accepted.get(), IPPROTO_TCP, TCP_QUICKACK, 1, "TCP_QUICKACK");
    ASSERT_EQ(::send(client.get(), chunk.data(), chunk.size(), 0), 100);
    ASSERT_EQ(::recv(accepted.get(), chunk.data(), chunk.size(), MSG_WAITALL), 100);
  }
  // The ACKs do not pace the story (the client sends on when the server has
  // read), so matches can pile up in the holder's queue (nfqueue) and be
  // decided well after the loop ends. Counters and captures read before that
  // settles disagree by tens of ACKs either way: that was session 1's "755
  // pure ACKs seen against 826 accepted" — pcap_stats showed no capture drop.
  // First until the client has every ACK it needs: a lost last ACK arms its
  // RTO, whose retransmission draws one more ACK hundreds of ms later.
  for (int i = 0; i < 100 && TcpInfo(client.get()).tcpi_unacked > 0; ++i) std::this_thread::sleep_for(50ms);
  ASSERT_EQ(TcpInfo(client.get()).tcpi_unacked, 0u);
  uint64_t settled = lossy->matched();
  for (;;) {
    std::this_thread::sleep_for(200ms);
    const uint64_t now = lossy->matched();
    if (now == settled) break;
    settled = now;
  }
  const double n = static_cast<double>(lossy->matched());
  const double dropped = static_cast<double>(lossy->impaired());
  const auto server_segments = Stop(*server_capture_);
  const auto client_segments = Stop(*client_capture_);
  ASSERT_GE(n, 500) << "too few matches to judge a share";
  EXPECT_EQ(server_capture_->dropped() + client_capture_->dropped(), 0u) << "the captures lost packets";
  // Cross-check with the wire: both captures tap after the backends' hooks
  // (egress) and before them (ingress), so each shows exactly the pure ACKs
  // let through.
  auto pure_acks = [](const std::vector<TcpSegment>& segments) {
    int count = 0;
    for (const auto& seg : segments) count += seg.sport == kPort && (seg.flags & 0x1f) == kTcpAck && seg.payload == 0;
    return count;
  };
  EXPECT_EQ(pure_acks(server_segments), n - dropped);
  EXPECT_EQ(pure_acks(client_segments), n - dropped);
  const double sigma = std::sqrt(n * kShare * (1 - kShare));
  EXPECT_NEAR(dropped, n * kShare, 4 * sigma) << "dropped " << dropped << " of " << n;
  std::printf("%s: dropped %.0f of %.0f matches (%.3f, expected %.2f +- %.3f at 4 sigma); pure ACKs seen: server "
              "%d, client %d; capture drops: server %lu, client %lu\n",
              BackendName(GetParam()).c_str(), dropped, n, dropped / n, kShare, 4 * sigma / n,
              pure_acks(server_segments), pure_acks(client_segments),
              static_cast<unsigned long>(server_capture_->dropped()),
              static_cast<unsigned long>(client_capture_->dropped()));
}

// Everything an impairment could leave in a namespace, as one text: qdiscs,
// filters, ifb devices, netfilter rules. (An empty mangle table, made on first
// use and never removed by iptables, is no rule: only "-A" lines count.)
std::string ImpairmentState(const NetNamespace& ns) {
  std::string state;
  for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{
           {"tc", "qdisc", "show"},
           {"tc", "filter", "show", "dev", "c0"},
           {"tc", "filter", "show", "dev", "c0", "ingress"},
           {"ip", "-o", "link", "show", "type", "ifb"},
           {"iptables-save"},
           {"ip6tables-save"}}) {
    const bool netfilter = argv[0].find("tables-save") != std::string::npos;
    const std::string out = CheckedRunIn(ns, argv);
    state += "$";
    for (const auto& arg : argv) state += " " + arg;
    state += "\n";
    size_t start = 0;
    while (start < out.size()) {
      size_t end = out.find('\n', start);
      if (end == std::string::npos) end = out.size();
      const std::string line = out.substr(start, end - start);
      if (!netfilter || line.rfind("-A", 0) == 0) state += line + "\n";
      start = end + 1;
    }
  }
  return state;
}

TEST_P(Conformance, RemovingRulesLeavesNoRuleQdiscFilterOrQueue) {
  const std::string before = ImpairmentState(*client_);
  {
    IMPAIR_OR_SKIP(egress, *client_,
                   {"c0", Direction::kEgress, {Family::kIpv4, std::nullopt, kPort, 0, 0, 0}, ImpairAction::Drop()});
    IMPAIR_OR_SKIP(ingress, *client_,
                   {"c0", Direction::kIngress, {Family::kIpv4, kPort, std::nullopt, 0, 0, 0},
                    ImpairAction::Delay(10ms)});
    const std::string during = ImpairmentState(*client_);
    EXPECT_NE(during, before);
    EXPECT_NE(during.find(GetParam() == ImpairmentBackend::kNetem ? "netem" : "NFQUEUE"), std::string::npos) << during;
  }
  EXPECT_EQ(ImpairmentState(*client_), before);
  // And traffic flows again.
  UniqueFd listener = Listen();
  NamespaceGuard inside(*client_);
  UniqueFd fd = TcpSocket(Family::kIpv4);
  SetIoTimeout(fd.get(), 2000);
  EXPECT_EQ(ConnectErrno(fd.get(), {"10.7.0.2", kPort}), 0);
}

TEST_P(Conformance, HostNamespaceIsRefused) {
  const NetNamespace host = NetNamespace::OfCurrentThread("host");
  try {
    Impair(host, {"lo", Direction::kEgress, {}, ImpairAction::Drop()}, GetParam());
    ADD_FAILURE() << "installed in the host namespace";
  } catch (const Unsupported& unsupported) {
    ADD_FAILURE() << "the host must be refused, not skipped: " << unsupported.what();
  } catch (const LabError& error) {
    EXPECT_NE(std::string(error.what()).find("refusing"), std::string::npos) << error.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Conformance,
                         ::testing::Values(ImpairmentBackend::kNfqueue, ImpairmentBackend::kNetem),
                         [](const auto& info) { return BackendName(info.param); });

// Selection between backends.

class EnvironmentVariable {
 public:
  EnvironmentVariable(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value, 1);
  }
  ~EnvironmentVariable() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

TEST(ImpairmentSelection, EnvironmentNamesTheBackend) {
  {
    EnvironmentVariable forced("TCPREPRO_IMPAIRMENT_BACKEND", "nfqueue");
    EXPECT_EQ(ImpairmentBackendFromEnvironment(), ImpairmentBackend::kNfqueue);
  }
  {
    EnvironmentVariable forced("TCPREPRO_IMPAIRMENT_BACKEND", "");
    EXPECT_EQ(ImpairmentBackendFromEnvironment(), ImpairmentBackend::kAuto);
  }
  EnvironmentVariable bad("TCPREPRO_IMPAIRMENT_BACKEND", "netme");
  try {
    ImpairmentBackendFromEnvironment();
    ADD_FAILURE() << "accepted a misspelt backend";
  } catch (const Unsupported&) {
    ADD_FAILURE() << "a bad value is a usage error, not a missing feature";
  } catch (const LabError& error) {
    EXPECT_NE(std::string(error.what()).find("auto, netem or nfqueue"), std::string::npos) << error.what();
  }
}

TEST(ImpairmentSelection, AutoFallsBackToNfqueueForWhatNetemCannotExpress) {
  const NetNamespace ns = NetNamespace::Create("select");
  const ImpairmentRule nth = {"lo", Direction::kEgress, {Family::kIpv4, std::nullopt, kPort, 0, 0, 3},
                              ImpairAction::Drop()};
  EXPECT_EQ(Impair(ns, nth, ImpairmentBackend::kAuto)->backend(), "nfqueue");
  try {
    Impair(ns, nth, ImpairmentBackend::kNetem);
    ADD_FAILURE() << "netem claimed to count matches";
  } catch (const Unsupported& unsupported) {
    EXPECT_EQ(std::string(unsupported.what()).rfind("netem backend: ", 0), 0u) << unsupported.what();
  }
}

TEST(ImpairmentSelection, AutoPicksNetemWhenTheKernelHasIt) {
  const NetNamespace ns = NetNamespace::Create("select");
  const ImpairmentRule every = {"lo", Direction::kEgress, {Family::kIpv4, std::nullopt, kPort, 0, 0, 0},
                                ImpairAction::Delay(1ms)};
  std::string netem_missing;
  try {
    Impair(ns, every, ImpairmentBackend::kNetem);
  } catch (const Unsupported& unsupported) {
    netem_missing = unsupported.what();
  }
  EXPECT_EQ(Impair(ns, every, ImpairmentBackend::kAuto)->backend(), netem_missing.empty() ? "netem" : "nfqueue")
      << netem_missing;
  if (!netem_missing.empty()) std::printf("netem here: %s\n", netem_missing.c_str());
}

}  // namespace
}  // namespace tcprepro
