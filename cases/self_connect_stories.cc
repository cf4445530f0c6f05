// S1. Self-connect.
//
// Claim: with no listener on port P, a client on the same host whose source
// port happens to be P connects to itself (TCP simultaneous open, RFC 793
// section 3.4) and holds P, so the real server can never bind P.
//
// Everything happens in the client's namespace, towards its own address: its
// loopback, or its end of the veth (the server's namespace only gives the veth
// a carrier). What the kernel did is judged by harness/scenarios/self_connect.toml.
#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

#include "cases/story.h"
#include "netns/clock.h"

namespace tcprepro {
namespace {

// The service port the stories are about, and a narrow ephemeral range around
// it. P has the parity of the range's low end: since v4.6 (1580ab63fc9a
// "tcp/dccp: better use of ephemeral ports in connect()") connect() tries that
// parity first, so P is reachable by autobind.
constexpr uint16_t kServicePort = 40008;
constexpr const char* kNarrowRange = "40000 40015";
constexpr uint16_t kPortOutsideRange = 40100;
// Connect attempts a retrying client makes before giving up; S1b and every S1c
// mitigation get the same budget, so "never within the budget" is comparable.
constexpr int kAttemptBudget = 1000;
// Upper bound for any single blocking socket call on a local path.
constexpr int kIoTimeoutMillis = 5000;

// What a reconnecting client does with a connection to itself.
enum class SelfConnectPolicy {
  kKeep,         // a naive client: any successful connect() is "the server"
  kRejectAbort,  // checks local == peer, closes with RST (SO_LINGER 0), retries
  kRejectClose,  // checks local == peer, plain close() and retries, as Go's net package does
};

struct RetryOutcome {
  int attempts = 0;             // connect() calls made
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
  out.elapsed_ms = MillisSince(start);
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

// Flags of the segments on the self-connected 4-tuple before any payload:
// the handshake as the wire saw it.
std::vector<std::string> Handshake(const std::vector<TcpSegment>& segments, uint16_t port) {
  std::vector<std::string> flags;
  for (const auto& seg : Flow(segments, port, port)) {
    if (seg.payload > 0) break;
    flags.push_back(seg.flag_string());
  }
  return flags;
}

std::vector<TcpSegment> SegmentsTo(const std::vector<TcpSegment>& all, uint16_t dport) {
  std::vector<TcpSegment> out;
  std::copy_if(all.begin(), all.end(), std::back_inserter(out), [&](const TcpSegment& s) { return s.dport == dport; });
  return out;
}

class SelfConnect : public LabStory {
 protected:
  // The retry loop shared by S1b and the S1c mitigations.
  void RunRetryStory(uint16_t target_port, SelfConnectPolicy policy, const std::string& reserved_ports = "") {
    TwoHostLab& lab = NewLab();
    TCPREPRO_STORY(lab, {
      lab.Sysctl(lab.client(), "net.ipv4.ip_local_port_range", kNarrowRange);
      if (!reserved_ports.empty()) lab.Sysctl(lab.client(), "net.ipv4.ip_local_reserved_ports", reserved_ports);
      const Endpoint service = lab.ClientAt(target_port);

      RetryOutcome retry = RetryConnect(lab.client(), service, policy);
      const int server_errno = ServerRestartErrno(lab.client(), service);
      lab.StopCaptures("every TCP segment in the client's namespace; the SYNs to the service port are the attempts");

      // Machinery: every attempt's SYN must be on the wire, or the capture missed packets.
      ASSERT_EQ(CountSyns(SegmentsTo(lab.ClientSegments(), target_port)), retry.attempts)
          << "captured SYNs to port " << target_port;
      lab.Observe("service_port", target_port);
      lab.Observe("attempt_budget", kAttemptBudget);
      lab.Observe("attempts", retry.attempts);
      lab.Observe("self_connected", retry.self_connected);
      lab.Observe("rejected_self_connects", retry.rejected_self_connects);
      lab.Observe("last_connect_errno", ErrnoName(retry.last_errno));
      lab.Observe("elapsed_ms", retry.elapsed_ms);
      lab.Observe("ports_tried", std::vector<uint16_t>(retry.ports.begin(),
                                                       retry.ports.begin() + std::min<size_t>(retry.ports.size(), 64)));
      lab.Observe("distinct_ports_tried", std::set<uint16_t>(retry.ports.begin(), retry.ports.end()).size());
      lab.Observe("server_bind_errno", ErrnoName(server_errno));
    });
  }
};

// S1a: `nc localhost P -p P` — bind P, connect to P, no listener.
TEST_P(SelfConnect, S1a) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, {
    const Endpoint service = lab.ClientAt(kServicePort);
    const CounterSnapshot before = lab.Counters(lab.client());
    int connect_errno, server_errno_held;
    Endpoint local, peer;
    std::string state;
    bool echo = false;
    {
      NamespaceGuard inside(lab.client());
      UniqueFd client = TcpSocket(family());
      SetIoTimeout(client.get(), kIoTimeoutMillis);
      const int bind_errno = BindErrno(client.get(), service);
      ASSERT_EQ(bind_errno, 0) << "bind " << service.ToString() << ": " << ErrnoName(bind_errno);
      connect_errno = ConnectErrno(client.get(), service);
      local = LocalEndpoint(client.get());
      peer = PeerEndpoint(client.get());
      state = TcpState(client.get());
      if (connect_errno == 0) echo = Echo(client.get(), client.get());
      server_errno_held = ServerRestartErrno(lab.client(), service);
    }
    const int server_errno_closed = ServerRestartErrno(lab.client(), service);
    lab.ObserveDeltas("", lab.client(), before, {"TcpExtTCPChallengeACK", "TcpExtTCPSYNChallenge"});
    lab.StopCaptures("the simultaneous open of the socket with itself, the echo, and its close");

    const auto segments = lab.ClientSegments();
    ASSERT_GE(CountSyns(SegmentsTo(segments, kServicePort)), 1) << "the client's SYN is not in the capture";
    lab.Observe("connect_errno", ErrnoName(connect_errno));
    lab.Observe("local", local.ToString());
    lab.Observe("peer", peer.ToString());
    lab.Observe("local_equals_peer", connect_errno == 0 && local == peer);
    lab.Observe("state", state);
    lab.Observe("echo_to_self", echo);
    lab.Observe("handshake", Handshake(segments, kServicePort));
    lab.Observe("server_bind_errno_while_held", ErrnoName(server_errno_held));
    lab.Observe("server_bind_errno_after_close", ErrnoName(server_errno_closed));
  });
}

// S1b: the server is down; a client retries with kernel-chosen ports inside a
// narrow ip_local_port_range around P until it connects — to itself.
TEST_P(SelfConnect, S1b) { RunRetryStory(kServicePort, SelfConnectPolicy::kKeep); }

// S1c mitigations: each must never hand the client a connection to itself
// within the same budget, and the server must then be able to bind P.
TEST_P(SelfConnect, S1c_outside_range) { RunRetryStory(kPortOutsideRange, SelfConnectPolicy::kKeep); }
TEST_P(SelfConnect, S1c_reserved_port) {
  RunRetryStory(kServicePort, SelfConnectPolicy::kKeep, std::to_string(kServicePort));
}
TEST_P(SelfConnect, S1c_app_check_rst) { RunRetryStory(kServicePort, SelfConnectPolicy::kRejectAbort); }
TEST_P(SelfConnect, S1c_app_check_close) { RunRetryStory(kServicePort, SelfConnectPolicy::kRejectClose); }

INSTANTIATE_TEST_SUITE_P(S1, SelfConnect,
                         ::testing::Values(Variant{Family::kIpv4, Link::kLoopback}, Variant{Family::kIpv6, Link::kLoopback},
                                           Variant{Family::kIpv4, Link::kVeth}, Variant{Family::kIpv6, Link::kVeth}),
                         VariantParamName);

}  // namespace
}  // namespace tcprepro
