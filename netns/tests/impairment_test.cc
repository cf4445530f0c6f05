// Conformance of an impairment backend, checked from captures: a held RST
// arrives after its release and not before; exactly the n-th match is dropped
// and its retransmission passes; a fixed delay is within tolerance; a drop
// share is within a binomial bound. Runs against the backend Impair() picks.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <cmath>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
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
namespace {

using namespace std::chrono_literals;

constexpr uint16_t kPort = 8000;
// A delay measured from a capture is off by scheduling and the holder's wake-up;
// this bounds it on a loaded 2-core machine (the note gives measured figures).
constexpr double kDelayToleranceMs = 5.0;

// Client and server namespaces joined by a veth pair, each captured.
class Pair : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tcprepro-impairment-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
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
    std::filesystem::remove_all(dir_);
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

  std::filesystem::path dir_;
  std::unique_ptr<NetNamespace> client_, server_;
  std::unique_ptr<VethPair> veth_;
  std::unique_ptr<PacketCapture> client_capture_, server_capture_;
};

double Now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TEST_F(Pair, HeldRstArrivesAfterReleaseAndNotBefore) {
  // Nobody listens: the server's stack answers the SYN with RST, which the rule holds.
  auto hold = Impair(*server_, {"s0", Direction::kEgress, {Family::kIpv4, kPort, std::nullopt, kTcpRst, kTcpRst, 1},
                                ImpairAction::Hold()});
  NamespaceGuard inside(*client_);
  UniqueFd fd = TcpSocket(Family::kIpv4);
  ::fcntl(fd.get(), F_SETFL, O_NONBLOCK);
  ASSERT_EQ(ConnectErrno(fd.get(), {"10.7.0.2", kPort}), EINPROGRESS);
  ASSERT_TRUE(hold->WaitMatched(1, 5s));
  EXPECT_EQ(TcpState(fd.get()), "SYN_SENT") << "the RST got through before its release";
  const double released_at = Now();
  hold->Release();
  struct pollfd pfd = {fd.get(), POLLOUT, 0};
  ASSERT_EQ(::poll(&pfd, 1, 5000), 1);
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
  EXPECT_EQ(ErrnoName(err), "ECONNREFUSED");
  EXPECT_EQ(hold->impaired(), 1u);

  int rsts = 0;
  for (const auto& seg : Stop(*client_capture_)) {
    if (!seg.rst()) continue;
    ++rsts;
    EXPECT_GE(seg.time, released_at) << "the client saw the RST before it was released";
  }
  EXPECT_EQ(rsts, 1);
}

TEST_F(Pair, ExactlyTheNthMatchIsDroppedAndItsRetransmissionPasses) {
  UniqueFd listener = Listen();
  // The client sends SYN, ACK, then one segment per message (the server sends
  // no data, so no pure ACKs): match #5 is the third message. Its
  // retransmission is match #6 and must pass.
  auto drop = Impair(*client_, {"c0", Direction::kEgress, {Family::kIpv4, std::nullopt, kPort, 0, 0, 5},
                                ImpairAction::Drop()});
  UniqueFd client, accepted;
  {
    NamespaceGuard inside(*client_);
    client = TcpSocket(Family::kIpv4);
    SetIoTimeout(client.get(), 5000);
    ASSERT_EQ(ConnectErrno(client.get(), {"10.7.0.2", kPort}), 0);
  }
  accepted = UniqueFd(::accept(listener.get(), nullptr, nullptr));
  ASSERT_TRUE(accepted.valid());
  SetIoTimeout(accepted.get(), 5000);
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

TEST_F(Pair, FixedDelayIsWithinTolerance) {
  UniqueFd listener = Listen();
  const auto delay = 50ms;
  // Ingress on the server: its capture sees the SYN arrive (before the hook)
  // and its SYN-ACK leave once the delayed SYN is delivered.
  auto slow = Impair(*server_, {"s0", Direction::kIngress,
                                {Family::kIpv4, std::nullopt, kPort, kTcpSyn | kTcpAck, kTcpSyn, 0},
                                ImpairAction::Delay(delay)});
  constexpr int kConnects = 10;
  for (int i = 0; i < kConnects; ++i) {
    NamespaceGuard inside(*client_);
    UniqueFd fd = TcpSocket(Family::kIpv4);
    SetIoTimeout(fd.get(), 5000);
    ASSERT_EQ(ConnectErrno(fd.get(), {"10.7.0.2", kPort}), 0);
    UniqueFd(::accept(listener.get(), nullptr, nullptr));
  }
  std::map<uint16_t, double> syn_at;
  std::vector<double> errors_ms;
  for (const auto& seg : Stop(*server_capture_)) {
    if (seg.syn() && !seg.has_ack()) syn_at.emplace(seg.sport, seg.time);
    if (seg.syn() && seg.has_ack() && syn_at.count(seg.dport)) {
      errors_ms.push_back((seg.time - syn_at[seg.dport]) * 1e3 - 50.0);
    }
  }
  ASSERT_EQ(errors_ms.size(), static_cast<size_t>(kConnects));
  for (double e : errors_ms) {
    EXPECT_GE(e, -0.1) << "delivered early";
    EXPECT_LE(e, kDelayToleranceMs);
  }
  double mean = 0;
  for (double e : errors_ms) mean += e / kConnects;
  RecordProperty("mean_delay_error_us", static_cast<int>(mean * 1000));
  std::printf("delay error over %d SYNs: mean %.3f ms\n", kConnects, mean);
}

TEST_F(Pair, DropShareIsWithinABinomialBound) {
  UniqueFd listener = Listen();
  constexpr double kShare = 0.2;
  // Pure ACKs from the server: many, cheap, and their loss does not stall the transfer.
  auto lossy = Impair(*server_, {"s0", Direction::kEgress,
                                 {Family::kIpv4, kPort, std::nullopt, kTcpSyn | kTcpFin | kTcpRst | kTcpPsh | kTcpAck,
                                  kTcpAck, 0},
                                 ImpairAction::DropShare(kShare)});
  UniqueFd client, accepted;
  {
    NamespaceGuard inside(*client_);
    client = TcpSocket(Family::kIpv4);
    SetIoTimeout(client.get(), 10000);
    // Without Nagle, a lost ACK cannot hold back the next message.
    SetIntOption(client.get(), IPPROTO_TCP, TCP_NODELAY, 1, "TCP_NODELAY");
    ASSERT_EQ(ConnectErrno(client.get(), {"10.7.0.2", kPort}), 0);
  }
  accepted = UniqueFd(::accept(listener.get(), nullptr, nullptr));
  SetIoTimeout(accepted.get(), 10000);
  // Small messages, each echoed by the server's ACK: about one pure ACK per message.
  std::string chunk(100, 'x');
  for (int i = 0; i < 1000; ++i) {
    // Quick ACKs: one immediate ACK per message instead of a 40 ms delayed one.
    SetIntOption(accepted.get(), IPPROTO_TCP, TCP_QUICKACK, 1, "TCP_QUICKACK");
    ASSERT_EQ(::send(client.get(), chunk.data(), chunk.size(), 0), 100);
    ASSERT_EQ(::recv(accepted.get(), chunk.data(), chunk.size(), MSG_WAITALL), 100);
  }
  const auto segments = Stop(*client_capture_);
  const double n = static_cast<double>(lossy->matched());
  const double dropped = static_cast<double>(lossy->impaired());
  ASSERT_GE(n, 500) << "too few matches to judge a share";
  // Cross-check with the wire: no dropped ACK reaches the client. (The client's
  // capture sometimes shows fewer than matched - dropped; not yet explained.)
  int acks_seen = 0;
  for (const auto& seg : segments) {
    acks_seen += seg.sport == kPort && (seg.flags & 0x1f) == kTcpAck && seg.payload == 0;
  }
  EXPECT_LE(acks_seen, n - dropped);
  const double sigma = std::sqrt(n * kShare * (1 - kShare));
  EXPECT_NEAR(dropped, n * kShare, 4 * sigma) << "dropped " << dropped << " of " << n;
  std::printf("dropped %.0f of %.0f matches (%.3f, expected %.2f +- %.3f at 4 sigma)\n", dropped, n, dropped / n,
              kShare, 4 * sigma / n);
}

TEST_F(Pair, RemovingTheRuleLeavesNoRuleOrQueue) {
  {
    auto rule = Impair(*client_, {"c0", Direction::kEgress, {Family::kIpv4, std::nullopt, kPort, 0, 0, 0},
                                  ImpairAction::Drop()});
    EXPECT_NE(CheckedRunIn(*client_, {"iptables", "-w", "-t", "mangle", "-S"}).find("NFQUEUE"), std::string::npos);
  }
  EXPECT_EQ(CheckedRunIn(*client_, {"iptables", "-w", "-t", "mangle", "-S"}).find("NFQUEUE"), std::string::npos);
  // And traffic flows again.
  UniqueFd listener = Listen();
  NamespaceGuard inside(*client_);
  UniqueFd fd = TcpSocket(Family::kIpv4);
  SetIoTimeout(fd.get(), 2000);
  EXPECT_EQ(ConnectErrno(fd.get(), {"10.7.0.2", kPort}), 0);
}

TEST(Impairment, HostNamespaceIsRefused) {
  const NetNamespace host = NetNamespace::OfCurrentThread("host");
  EXPECT_THROW(Impair(host, {"lo", Direction::kEgress, {}, ImpairAction::Drop()}), LabError);
}

}  // namespace
}  // namespace tcprepro
