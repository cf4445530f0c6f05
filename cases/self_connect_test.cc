// S1. Self-connect (seed 000; SCENARIOS.md §S1).
//
// Claim: with no listener on port P, a client on the same host whose source
// port happens to be P connects to itself (TCP simultaneous open) and holds P,
// so the real server can never bind P.
//
// Every test builds a fresh namespace (plus a veth pair for the veth variants,
// whose own address is the target), captures it, runs the story and records
// observations. It fails only when the machinery fails; what the kernel did is
// judged by the harness (harness/scenarios/self_connect.toml).
#include <gtest/gtest.h>
#include <poll.h>

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cases/case_support.h"
#include "netns/capture.h"
#include "netns/counters.h"
#include "netns/link.h"
#include "netns/namespace.h"
#include "netns/pcap_reader.h"
#include "netns/record.h"
#include "netns/socket.h"
#include "netns/sysctl.h"

namespace tcprepro {
namespace {

// The service port the stories are about, and a narrow ephemeral range around
// it. P has the parity of the range's low end: since v4.6 (1580ab63fc9a)
// connect() tries that parity first, so P is reachable by autobind.
constexpr uint16_t kServicePort = 40008;
constexpr const char* kNarrowRange = "40000 40015";
constexpr uint16_t kPortOutsideRange = 40100;
// Connect attempts a retrying client makes before giving up; S1b and every S1c
// mitigation get the same budget, so "never within the budget" is comparable.
constexpr int kAttemptBudget = 1000;
// Upper bound for any single blocking socket call on a local path.
constexpr int kIoTimeoutMillis = 5000;

enum class AddressKind { kLoopback, kVeth };

struct Variant {
  Family family;
  AddressKind address;
};

std::string VariantName(const Variant& v) {
  return FamilyName(v.family) + (v.address == AddressKind::kLoopback ? "_loopback" : "_veth");
}

// GoogleTest (and CTest's test names) print the parameter with this.
void PrintTo(const Variant& v, std::ostream* os) { *os << VariantName(v); }

// One namespace whose own address (loopback, or its end of a veth pair) is
// both the client's and the would-be server's.
class SelfConnectLab {
 public:
  explicit SelfConnectLab(const Variant& variant, const std::filesystem::path& evidence_dir)
      : host_(NetNamespace::Create("host")) {
    if (variant.address == AddressKind::kVeth) {
      // The peer namespace only gives the veth a carrier; no packet goes there.
      peer_ = std::make_unique<NetNamespace>(NetNamespace::Create("peer"));
      veth_ = std::make_unique<VethPair>(VethEnd{&host_, "veth0", {"10.200.0.1/24", "fd00:200::1/64"}},
                                         VethEnd{peer_.get(), "veth1", {"10.200.0.2/24", "fd00:200::2/64"}});
    }
    ip_ = variant.address == AddressKind::kLoopback ? (variant.family == Family::kIpv4 ? "127.0.0.1" : "::1")
                                                    : (variant.family == Family::kIpv4 ? "10.200.0.1" : "fd00:200::1");
    capture_ = std::make_unique<PacketCapture>(host_, evidence_dir / "host.pcap");
  }

  const NetNamespace& ns() const { return host_; }
  Endpoint At(uint16_t port) const { return {ip_, port}; }
  PacketCapture& capture() { return *capture_; }

 private:
  NetNamespace host_;
  std::unique_ptr<NetNamespace> peer_;
  std::unique_ptr<VethPair> veth_;
  std::string ip_;
  std::unique_ptr<PacketCapture> capture_;
};

// What a reconnecting client does with a connection to itself.
enum class SelfConnectPolicy {
  kKeep,          // a naive client: any successful connect() is "the server"
  kRejectAbort,   // checks local == peer, closes with RST (SO_LINGER 0), retries
  kRejectClose,   // checks local == peer, plain close() and retries, as Go's net package does
};

struct RetryOutcome {
  int attempts = 0;  // connect() calls made
  bool self_connected = false;  // the client ended up holding a connection to itself
  int rejected_self_connects = 0;
  int last_errno = 0;
  std::vector<uint16_t> ports;  // source port of each attempt, from getsockname()
  double elapsed_ms = 0;
  UniqueFd held;  // the connection the client kept, if any
};

// The production story: the server is down and a client retries connect() to
// `target` on ECONNREFUSED with kernel-chosen source ports.
RetryOutcome RetryConnect(const NetNamespace& ns, const Endpoint& target, SelfConnectPolicy policy) {
  NamespaceGuard inside(ns);
  RetryOutcome out;
  const auto start = std::chrono::steady_clock::now();
  while (out.attempts < kAttemptBudget) {
    UniqueFd fd = TcpSocket(target.family());
    SetIoTimeout(fd.get(), kIoTimeoutMillis);
    ++out.attempts;
    out.last_errno = ConnectErrno(fd.get(), target);
    out.ports.push_back(LocalEndpoint(fd.get()).port);
    if (out.last_errno == ECONNREFUSED) continue;
    if (out.last_errno != 0) break;  // e.g. EADDRNOTAVAIL: the story ends, the errno is the observation
    const bool to_itself = LocalEndpoint(fd.get()) == PeerEndpoint(fd.get());
    if (policy == SelfConnectPolicy::kKeep || !to_itself) {
      out.self_connected = to_itself;
      out.held = std::move(fd);
      break;
    }
    ++out.rejected_self_connects;
    if (policy == SelfConnectPolicy::kRejectAbort) SetAbortiveClose(fd.get());
  }
  out.elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return out;
}

// The server coming back: SO_REUSEADDR, bind(P), listen, as servers do.
int ServerRestartErrno(const NetNamespace& ns, const Endpoint& service) {
  NamespaceGuard inside(ns);
  UniqueFd server = TcpSocket(service.family());
  SetReuseAddr(server.get());
  if (int err = BindErrno(server.get(), service)) return err;
  return ListenErrno(server.get());
}

std::vector<TcpSegment> SegmentsTo(const std::vector<TcpSegment>& all, uint16_t dport) {
  std::vector<TcpSegment> out;
  for (const auto& seg : all) {
    if (seg.dport == dport) out.push_back(seg);
  }
  return out;
}

// Flags of the segments on the self-connected 4-tuple before any payload:
// the handshake as the wire saw it.
std::vector<std::string> Handshake(const std::vector<TcpSegment>& segments, uint16_t port) {
  std::vector<std::string> flags;
  for (const auto& seg : segments) {
    if (seg.sport != port || seg.dport != port) continue;
    if (seg.payload > 0) break;
    flags.push_back(seg.flag_string());
  }
  return flags;
}

int CountSyns(const std::vector<TcpSegment>& segments) {
  int n = 0;
  for (const auto& seg : segments) n += seg.syn() && !seg.has_ack();
  return n;
}

const std::vector<std::string> kHandshakeCounters = {"TcpExtTCPChallengeACK", "TcpExtTCPSYNChallenge"};

class SelfConnect : public ::testing::TestWithParam<Variant> {
 protected:
  // One record per test; the scenario id is the catalogue's key.
  ScenarioRecord& Record(const std::string& scenario) {
    record_ = std::make_unique<ScenarioRecord>(
        EvidenceDirForCurrentTest(), scenario,
        nlohmann::json{{"family", FamilyName(GetParam().family)},
                       {"address", GetParam().address == AddressKind::kLoopback ? "loopback" : "veth"}});
    return *record_;
  }

  // The retry loop shared by S1b and the S1c mitigations.
  void RunRetryStory(ScenarioRecord& record, uint16_t target_port, SelfConnectPolicy policy,
                     const std::string& reserved_ports = "") {
    SelfConnectLab lab(GetParam(), record.dir());
    SysctlGuard range(lab.ns(), "net.ipv4.ip_local_port_range", kNarrowRange);
    record.NoteSysctl(range);
    std::optional<SysctlGuard> reserved;
    if (!reserved_ports.empty()) {
      reserved.emplace(lab.ns(), "net.ipv4.ip_local_reserved_ports", reserved_ports);
      record.NoteSysctl(*reserved);
    }
    const Endpoint service = lab.At(target_port);

    RetryOutcome retry = RetryConnect(lab.ns(), service, policy);
    const int server_errno = ServerRestartErrno(lab.ns(), service);
    lab.capture().Stop();

    const auto segments = ReadTcpSegments(lab.capture().file());
    const auto to_service = SegmentsTo(segments, target_port);
    // Machinery: every attempt's SYN must be on the wire, or the capture missed packets.
    ASSERT_EQ(CountSyns(to_service), retry.attempts) << "captured SYNs to port " << target_port;

    record.Observe("service_port", target_port);
    record.Observe("attempt_budget", kAttemptBudget);
    record.Observe("attempts", retry.attempts);
    record.Observe("self_connected", retry.self_connected);
    record.Observe("rejected_self_connects", retry.rejected_self_connects);
    record.Observe("last_connect_errno", ErrnoName(retry.last_errno));
    record.Observe("elapsed_ms", retry.elapsed_ms);
    record.Observe("ports_tried", std::vector<uint16_t>(retry.ports.begin(),
                                                        retry.ports.begin() + std::min<size_t>(retry.ports.size(), 64)));
    record.Observe("distinct_ports_tried", std::set<uint16_t>(retry.ports.begin(), retry.ports.end()).size());
    record.Observe("server_bind_errno", ErrnoName(server_errno));
    record.AddCapture(lab.capture(), "every TCP segment in the client's namespace; the SYNs to the service port "
                                     "are the attempts");
  }

 private:
  std::unique_ptr<ScenarioRecord> record_;
};

// S1a: the seed's `nc localhost P -p P` — bind P, connect to P, no listener.
TEST_P(SelfConnect, S1a_Explicit) {
  ScenarioRecord& record = Record("S1a");
  TCPREPRO_STORY(record, {
    SelfConnectLab lab(GetParam(), record.dir());
    const Endpoint service = lab.At(kServicePort);
    const CounterSnapshot before = CounterSnapshot::Take(lab.ns());

    int bind_errno, connect_errno, server_errno_held, server_errno_closed;
    Endpoint local, peer;
    std::string state;
    bool echo = false;
    {
      NamespaceGuard inside(lab.ns());
      UniqueFd client = TcpSocket(GetParam().family);
      SetIoTimeout(client.get(), kIoTimeoutMillis);
      bind_errno = BindErrno(client.get(), service);
      ASSERT_EQ(bind_errno, 0) << "bind " << service.ToString() << ": " << ErrnoName(bind_errno);
      connect_errno = ConnectErrno(client.get(), service);
      local = LocalEndpoint(client.get());
      peer = PeerEndpoint(client.get());
      state = TcpState(client.get());
      if (connect_errno == 0) {
        const std::string ping = "ping";
        ASSERT_EQ(::send(client.get(), ping.data(), ping.size(), 0), static_cast<ssize_t>(ping.size()));
        char buf[16] = {};
        const ssize_t n = ::recv(client.get(), buf, sizeof buf, 0);
        echo = n == static_cast<ssize_t>(ping.size()) && ping == std::string(buf, n);
      }
      server_errno_held = ServerRestartErrno(lab.ns(), service);
    }
    server_errno_closed = ServerRestartErrno(lab.ns(), service);
    const CounterSnapshot after = CounterSnapshot::Take(lab.ns());
    lab.capture().Stop();

    const auto segments = ReadTcpSegments(lab.capture().file());
    ASSERT_GE(CountSyns(SegmentsTo(segments, kServicePort)), 1) << "the client's SYN is not in the capture";

    record.Observe("connect_errno", ErrnoName(connect_errno));
    record.Observe("local", local.ToString());
    record.Observe("peer", peer.ToString());
    record.Observe("local_equals_peer", connect_errno == 0 && local == peer);
    record.Observe("state", state);
    record.Observe("echo_to_self", echo);
    record.Observe("handshake", Handshake(segments, kServicePort));
    for (const auto& [name, delta] : CounterDeltas(before, after, kHandshakeCounters)) {
      record.Observe(name + "_delta", delta);
    }
    record.Observe("server_bind_errno_while_held", ErrnoName(server_errno_held));
    record.Observe("server_bind_errno_after_close", ErrnoName(server_errno_closed));
    record.AddCapture(lab.capture(), "the simultaneous open of the socket with itself, the echo, and its close");
  });
}

// S1b: the server is down; a client retries with kernel-chosen ports inside a
// narrow ip_local_port_range around P until it connects — to itself.
TEST_P(SelfConnect, S1b_RetryLoop) {
  ScenarioRecord& record = Record("S1b");
  TCPREPRO_STORY(record, RunRetryStory(record, kServicePort, SelfConnectPolicy::kKeep));
}

// S1c mitigations: each must never hand the client a connection to itself
// within the same budget, and the server must then be able to bind P.
TEST_P(SelfConnect, S1c_PortOutsideRange) {
  ScenarioRecord& record = Record("S1c-outside-range");
  TCPREPRO_STORY(record, RunRetryStory(record, kPortOutsideRange, SelfConnectPolicy::kKeep));
}

TEST_P(SelfConnect, S1c_ReservedPort) {
  ScenarioRecord& record = Record("S1c-reserved-port");
  TCPREPRO_STORY(record, RunRetryStory(record, kServicePort, SelfConnectPolicy::kKeep,
                                       std::to_string(kServicePort)));
}

TEST_P(SelfConnect, S1c_AppCheckAbortiveClose) {
  ScenarioRecord& record = Record("S1c-app-check-rst");
  TCPREPRO_STORY(record, RunRetryStory(record, kServicePort, SelfConnectPolicy::kRejectAbort));
}

TEST_P(SelfConnect, S1c_AppCheckPlainClose) {
  ScenarioRecord& record = Record("S1c-app-check-close");
  TCPREPRO_STORY(record, RunRetryStory(record, kServicePort, SelfConnectPolicy::kRejectClose));
}

INSTANTIATE_TEST_SUITE_P(S1, SelfConnect,
                         ::testing::Values(Variant{Family::kIpv4, AddressKind::kLoopback},
                                           Variant{Family::kIpv6, AddressKind::kLoopback},
                                           Variant{Family::kIpv4, AddressKind::kVeth},
                                           Variant{Family::kIpv6, AddressKind::kVeth}),
                         [](const auto& info) { return VariantName(info.param); });

}  // namespace
}  // namespace tcprepro
