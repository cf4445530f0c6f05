// S3. TIME_WAIT and tcp_tw_reuse (seeds 001 and 002; SCENARIOS.md §S3).
//
// Claims (seed 001): a server that closes its connections first and restarts
// cannot bind its port while their TIME_WAITs exist, unless it sets
// SO_REUSEADDR; SO_REUSEADDR also lets one process listen on 0.0.0.0:P while
// another listens on a specific address on P.
// Claims (seed 002 §3.14): tcp_tw_reuse lets connect() take a 4-tuple still in
// TIME_WAIT (timestamps on, after a second); it is dangerous because a stale
// RST is accepted even when it fails PAWS (first problem) and because a lost
// final ACK leaves the peer in LAST_ACK when the 4-tuple comes back (second).
// Claims (seed 002 §3.11): a TIME_WAIT that receives a newer SYN opens a new
// connection, an older one gets an ACK and then the client's RST; and an RST
// ends a TIME_WAIT early unless tcp_rfc1337=1 (S3f).
//
// Segments that only an old network could deliver at the right moment (an RST
// at exactly rcv_nxt with a stale timestamp, a SYN below the TIME_WAIT's
// rcv_nxt) are crafted with a raw socket (netns/raw_tcp.h); the seed's own
// story with real packets uses an impairment that holds the server's RST.
//
// Every test builds fresh namespaces — a client and a server joined by a veth
// pair, or one namespace talking over loopback — captures each, runs its story
// and records observations. Waits come from the protocol (the SYN retransmit,
// the reuse delay, a retransmitted FIN) and poll observable state with a
// deadline; nothing sleeps for a fixed time. A test fails only when the
// machinery fails; harness/scenarios/time_wait.toml judges the kernel.
//
// The client's ip_local_port_range is one port (kClientPort): a reconnect can
// only get the old 4-tuple, and connect() says EADDRNOTAVAIL until the kernel
// lets it reuse the TIME_WAIT — that is how the reuse delay is measured.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cases/case_support.h"
#include "cases/tcp_table.h"
#include "netns/capture.h"
#include "netns/command.h"
#include "netns/counters.h"
#include "netns/impairment.h"
#include "netns/link.h"
#include "netns/namespace.h"
#include "netns/pcap_reader.h"
#include "netns/raw_tcp.h"
#include "netns/record.h"
#include "netns/socket.h"
#include "netns/sysctl.h"

namespace tcprepro {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr uint16_t kServerPort = 5000;
constexpr uint16_t kClientPort = 40000;
constexpr const char* kOnePortRange = "40000 40000";
// Bounds for waits on protocol events. Generous: under TCG emulation a
// namespace switch or a process spawn takes tens of milliseconds.
constexpr auto kEventDeadline = 10s;
// How long a reconnect keeps trying while connect() says EADDRNOTAVAIL: the
// reuse delay is at most 1 s (or tcp_tw_reuse_delay, set small or left at
// 1000 ms), so 2.5 s separates "reused after the delay" from "never" (TIME_WAIT
// lasts 60 s) and keeps a "never" variant short.
constexpr auto kReuseDeadline = 2500ms;
constexpr auto kReusePoll = 5ms;
constexpr int kIoTimeoutMillis = 10000;
// The server's RTO floor in S3d-reuse (a route metric): its FIN retransmission
// must not reach the client's TIME_WAIT before the reconnect, which may wait
// up to a second for the reuse delay.
constexpr const char* kServerRtoMin = "4s";

enum class Path { kLoopback, kVeth };

double WallNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// A client and a server: two namespaces on a veth pair, or one namespace and
// its loopback. Each namespace is captured.
class TwLab {
 public:
  TwLab(Family family, Path path, const std::filesystem::path& dir)
      : family_(family), path_(path), client_(NetNamespace::Create(path == Path::kVeth ? "client" : "host")) {
    if (path == Path::kVeth) {
      server_ = std::make_unique<NetNamespace>(NetNamespace::Create("server"));
      veth_ = std::make_unique<VethPair>(VethEnd{&client_, "c0", {"10.203.0.1/24", "fd00:203::1/64"}},
                                         VethEnd{server_.get(), "s0", {"10.203.0.2/24", "fd00:203::2/64"}});
      client_ip_ = family == Family::kIpv4 ? "10.203.0.1" : "fd00:203::1";
      server_ip_ = family == Family::kIpv4 ? "10.203.0.2" : "fd00:203::2";
      server_capture_ = std::make_unique<PacketCapture>(*server_, dir / "server.pcap");
    } else {
      client_ip_ = server_ip_ = family == Family::kIpv4 ? "127.0.0.1" : "::1";
    }
    client_capture_ = std::make_unique<PacketCapture>(client_, dir / (path == Path::kVeth ? "client.pcap" : "host.pcap"));
  }

  Family family() const { return family_; }
  Path path() const { return path_; }
  const NetNamespace& client() const { return client_; }
  const NetNamespace& server() const { return server_ ? *server_ : client_; }
  Endpoint ServerAt(uint16_t port) const { return {server_ip_, port}; }
  Endpoint ClientAt(uint16_t port) const { return {client_ip_, port}; }
  // The server's link, where its egress impairments go.
  std::string server_link() const { return server_ ? "s0" : "lo"; }
  std::string client_link() const { return server_ ? "c0" : "lo"; }
  PacketCapture& client_capture() { return *client_capture_; }
  // The capture that sees the server's side (the only one, on loopback).
  PacketCapture& server_capture() { return server_capture_ ? *server_capture_ : *client_capture_; }

  void StopCaptures() {
    client_capture_->Stop();
    if (server_capture_) server_capture_->Stop();
  }
  void AddCaptures(ScenarioRecord& record, const std::string& what) {
    record.AddCapture(*client_capture_, (server_capture_ ? "the client's namespace: " : "the one namespace: ") + what);
    if (server_capture_) record.AddCapture(*server_capture_, "the server's namespace: " + what);
  }

 private:
  Family family_;
  Path path_;
  NetNamespace client_;
  std::unique_ptr<NetNamespace> server_;
  std::unique_ptr<VethPair> veth_;
  std::string client_ip_, server_ip_;
  std::unique_ptr<PacketCapture> client_capture_, server_capture_;
};

UniqueFd Listen(const NetNamespace& ns, const Endpoint& at, bool reuseaddr = true) {
  NamespaceGuard inside(ns);
  UniqueFd fd = TcpSocket(at.family());
  if (reuseaddr) SetReuseAddr(fd.get());
  SetIoTimeout(fd.get(), kIoTimeoutMillis);
  if (int err = BindErrno(fd.get(), at)) throw LabError("bind listener " + at.ToString() + ": " + ErrnoName(err));
  if (int err = ListenErrno(fd.get())) throw LabError("listen " + at.ToString() + ": " + ErrnoName(err));
  return fd;
}

UniqueFd Accept(const UniqueFd& listener) {
  UniqueFd fd(::accept(listener.get(), nullptr, nullptr));
  if (!fd.valid()) ThrowErrno("accept");
  SetIoTimeout(fd.get(), kIoTimeoutMillis);
  return fd;
}

UniqueFd Connect(const NetNamespace& ns, const Endpoint& to) {
  NamespaceGuard inside(ns);
  UniqueFd fd = TcpSocket(to.family());
  SetIoTimeout(fd.get(), kIoTimeoutMillis);
  if (int err = ConnectErrno(fd.get(), to)) throw LabError("connect " + to.ToString() + ": " + ErrnoName(err));
  return fd;
}

// One request and its answer; false if either direction failed.
bool Echo(int client, int server) {
  const std::string ping = "ping";
  char buf[16];
  if (::send(client, ping.data(), ping.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(ping.size())) return false;
  if (::recv(server, buf, ping.size(), MSG_WAITALL) != static_cast<ssize_t>(ping.size())) return false;
  if (::send(server, ping.data(), ping.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(ping.size())) return false;
  return ::recv(client, buf, ping.size(), MSG_WAITALL) == static_cast<ssize_t>(ping.size());
}

// The client closes first, the server follows: the client's 4-tuple ends in
// TIME_WAIT. Throws if it does not get there.
void ClientActiveClose(TwLab& lab, UniqueFd& client, UniqueFd& server) {
  client.reset();
  char byte;
  if (::recv(server.get(), &byte, 1, 0) != 0) throw LabError("the server did not read EOF after the client's close");
  server.reset();
  if (!WaitFor([&] { return TcpTableState(lab.client(), lab.family(), kClientPort, kServerPort) == "TIME_WAIT"; },
               kEventDeadline)) {
    throw LabError("the client's 4-tuple never reached TIME_WAIT");
  }
}

struct Reconnect {
  UniqueFd fd;
  int err = 0;                // the last connect() errno
  int attempts = 0;           // connect() calls, EADDRNOTAVAIL ones included
  double wait_ms = 0;         // from `since` to the call that did not fail with EADDRNOTAVAIL
  double connect_ms = 0;      // that call's own duration (SYN to established)
  std::string server_state;   // the server socket's state just before that call, if asked
};

// Reconnects from the one-port range until connect() stops saying
// EADDRNOTAVAIL (the kernel let the TIME_WAIT be reused) or the deadline.
Reconnect ReconnectUntilReuse(TwLab& lab, Clock::time_point since, std::chrono::milliseconds deadline,
                              const UniqueFd* server_socket = nullptr) {
  NamespaceGuard inside(lab.client());
  Reconnect out;
  const auto until = Clock::now() + deadline;
  for (;;) {
    UniqueFd fd = TcpSocket(lab.family());
    SetIoTimeout(fd.get(), kIoTimeoutMillis);
    if (server_socket) out.server_state = TcpState(server_socket->get());
    ++out.attempts;
    const auto start = Clock::now();
    out.err = ConnectErrno(fd.get(), lab.ServerAt(kServerPort));
    out.connect_ms = MillisSince(start);
    if (out.err != EADDRNOTAVAIL) {
      out.wait_ms = std::chrono::duration<double, std::milli>(start - since).count();
      if (out.err == 0) out.fd = std::move(fd);
      return out;
    }
    if (Clock::now() >= until) {
      out.wait_ms = MillisSince(since);
      return out;
    }
    std::this_thread::sleep_for(kReusePoll);
  }
}

// The S3c stories need the reused connection itself: reconnects on the
// TIME_WAIT 4-tuple and accepts it, or ends the story (reused=false: the hazard
// cannot arise) when the kernel does not reuse, e.g. with tcp_timestamps=0.
std::pair<UniqueFd, UniqueFd> ReuseOrSkip(TwLab& lab, ScenarioRecord& record, const UniqueFd& listener) {
  Reconnect again = ReconnectUntilReuse(lab, Clock::now(), kReuseDeadline);
  record.Observe("reconnect_errno", ErrnoName(again.err));
  record.Observe("reuse_wait_ms", again.wait_ms);
  record.Observe("reused", again.err == 0);
  if (again.err != 0) {
    throw StoryEnds("tcp_tw_reuse=1 did not let the client reuse its TIME_WAIT 4-tuple within " +
                    std::to_string(std::chrono::milliseconds(kReuseDeadline).count()) + " ms (" +
                    ErrnoName(again.err) + ")");
  }
  UniqueFd server = Accept(listener);
  if (LocalEndpoint(again.fd.get()).port != kClientPort) throw LabError("the reconnect did not get the client port");
  return {std::move(again.fd), std::move(server)};
}

// Counter deltas for the names this kernel has (a counter newer than the
// kernel is left out rather than failing the story).
void ObserveDeltas(ScenarioRecord& record, const std::string& prefix, const CounterSnapshot& before,
                   const CounterSnapshot& after, const std::vector<std::string>& names) {
  for (const auto& name : names) {
    if (before.has(name) && after.has(name)) record.Observe(prefix + name + "_delta", after.get(name) - before.get(name));
  }
}

// The segments of one 4-tuple (either direction), in capture order.
std::vector<TcpSegment> Flow(const std::vector<TcpSegment>& all, uint16_t client_port, uint16_t server_port) {
  std::vector<TcpSegment> out;
  for (const auto& s : all) {
    if ((s.sport == client_port && s.dport == server_port) || (s.sport == server_port && s.dport == client_port)) {
      out.push_back(s);
    }
  }
  return out;
}

bool FromClient(const TcpSegment& s) { return s.sport == kClientPort; }

// "c:S", "s:S.", "c:R": who sent what.
std::string Labelled(const TcpSegment& s) { return (FromClient(s) ? "c:" : "s:") + s.flag_string(); }

// The client's SYNs, one entry per distinct ISN (retransmissions repeat it).
std::vector<uint32_t> ClientIsns(const std::vector<TcpSegment>& flow) {
  std::vector<uint32_t> isns;
  for (const auto& s : flow) {
    if (FromClient(s) && s.syn() && !s.has_ack() && (isns.empty() || isns.back() != s.seq)) isns.push_back(s.seq);
  }
  return isns;
}

std::optional<std::string> TwReuseDelay(const NetNamespace& ns) {
  return ReadSysctl(ns, "net.ipv4.tcp_tw_reuse_delay");
}

const std::vector<std::string> kRstCounters = {
    "TcpExtTCPChallengeACK", "TcpExtTCPACKSkippedChallenge", "TcpExtPAWSEstab", "TcpExtPAWSOldAck",
    "TcpEstabResets",        "TcpExtTCPSYNChallenge",        "TcpInErrs",       "TcpExtBeyondWindow",
    "TcpOutSegs"};

class TimeWait : public ::testing::TestWithParam<Family> {
 protected:
  ScenarioRecord& Record(const std::string& scenario, nlohmann::json extra = nlohmann::json::object()) {
    extra["family"] = FamilyName(GetParam());
    record_ = std::make_unique<ScenarioRecord>(EvidenceDirForCurrentTest(), scenario, extra);
    return *record_;
  }

  // Client sysctls for a reuse story: tcp_tw_reuse, the one-port range, and
  // tcp_tw_reuse_delay where the kernel has it (probed: absent before v6.14).
  // The guards must end before the lab: the caller keeps them after it.
  struct ReuseSysctls {
    std::unique_ptr<SysctlGuard> reuse, range, delay;
  };
  ReuseSysctls ClientReuseSysctls(ScenarioRecord& record, const TwLab& lab, const std::string& tw_reuse,
                                  bool small_delay) {
    ReuseSysctls out;
    out.reuse = std::make_unique<SysctlGuard>(lab.client(), "net.ipv4.tcp_tw_reuse", tw_reuse);
    record.NoteSysctl(*out.reuse);
    out.range = std::make_unique<SysctlGuard>(lab.client(), "net.ipv4.ip_local_port_range", kOnePortRange);
    record.NoteSysctl(*out.range);
    const auto delay = TwReuseDelay(lab.client());
    if (delay && small_delay) {
      out.delay = std::make_unique<SysctlGuard>(lab.client(), "net.ipv4.tcp_tw_reuse_delay", "1");
      record.NoteSysctl(*out.delay);
    }
    record.Observe("tw_reuse_delay_default", delay ? *delay : "absent");
    return out;
  }

  // S3b: one connection closed by the client, then reconnects on the same
  // 4-tuple until the kernel allows it or the deadline.
  void RunReuseSweep(const std::string& scenario, Path path, const std::string& tw_reuse, bool timestamps) {
    ScenarioRecord& record = Record(scenario, {{"path", path == Path::kVeth ? "veth" : "loopback"},
                                               {"tcp_tw_reuse", "tw_reuse=" + tw_reuse},
                                               {"tcp_timestamps", timestamps ? "timestamps=1" : "timestamps=0"}});
    TCPREPRO_STORY(record, {
      TwLab lab(GetParam(), path, record.dir());
      const ReuseSysctls sysctls = ClientReuseSysctls(record, lab, tw_reuse, /*small_delay=*/false);
      SysctlGuard ts(lab.client(), "net.ipv4.tcp_timestamps", timestamps ? "1" : "0");
      record.NoteSysctl(ts);
      UniqueFd listener = Listen(lab.server(), lab.ServerAt(kServerPort));
      UniqueFd client = Connect(lab.client(), lab.ServerAt(kServerPort));
      UniqueFd server = Accept(listener);
      ASSERT_EQ(LocalEndpoint(client.get()).port, kClientPort);
      ASSERT_TRUE(Echo(client.get(), server.get()));
      ClientActiveClose(lab, client, server);
      const auto in_time_wait = Clock::now();

      Reconnect again = ReconnectUntilReuse(lab, in_time_wait, kReuseDeadline);
      const bool reused = again.err == 0;
      UniqueFd accepted;
      if (reused) accepted = Accept(listener);
      lab.StopCaptures();

      record.Observe("reused", reused);
      record.Observe("reconnect_errno", ErrnoName(again.err));
      record.Observe("reconnect_attempts", again.attempts);
      record.Observe("reuse_wait_ms", reused ? nlohmann::json(again.wait_ms) : nlohmann::json(nullptr));
      record.Observe("deadline_ms", std::chrono::milliseconds(kReuseDeadline).count());
      const auto flow = Flow(ReadTcpSegments(lab.client_capture().file()), kClientPort, kServerPort);
      const auto isns = ClientIsns(flow);
      // The reused connection's ISN is the TIME_WAIT's snd_nxt + 65535 + 2
      // (tcp_twsk_unique): take snd_nxt from the client's FIN.
      std::optional<uint32_t> old_snd_nxt;
      for (const auto& s : flow) {
        if (FromClient(s) && (s.flags & kTcpFin) && isns.size() >= 1) old_snd_nxt = s.seq + s.payload + 1;
      }
      if (reused && isns.size() >= 2 && old_snd_nxt) {
        record.Observe("reused_isn_minus_old_snd_nxt", static_cast<int64_t>(isns[1] - *old_snd_nxt));
      }
      bool timestamps_on_syn = false;
      for (const auto& s : flow) {
        if (FromClient(s) && s.syn()) timestamps_on_syn = s.ts_val.has_value();
      }
      record.Observe("timestamps_negotiated", timestamps_on_syn);
      lab.AddCaptures(record, "the first connection, the client's close, and the reconnect on the same 4-tuple");
    });
  }

 private:
  std::unique_ptr<ScenarioRecord> record_;
};

// ---------------------------------------------------------------------------
// S3a: server restart (seed 001).

// The server closes its accepted connection first (TIME_WAIT on the server
// port), then its listener; a new listener binds the same port.
void RestartStory(ScenarioRecord& record, Family family, bool reuseaddr) {
  TwLab lab(family, Path::kLoopback, record.dir());
  UniqueFd listener = Listen(lab.server(), lab.ServerAt(kServerPort), reuseaddr);
  UniqueFd client = Connect(lab.client(), lab.ServerAt(kServerPort));
  UniqueFd server = Accept(listener);
  ASSERT_TRUE(Echo(client.get(), server.get()));
  const uint16_t client_port = LocalEndpoint(client.get()).port;
  server.reset();  // the server closes first
  char byte;
  ASSERT_EQ(::recv(client.get(), &byte, 1, 0), 0);
  client.reset();
  ASSERT_TRUE(WaitFor([&] { return TcpTableState(lab.server(), family, kServerPort, client_port) == "TIME_WAIT"; },
                      kEventDeadline))
      << "the server side never reached TIME_WAIT";
  listener.reset();  // the server process "exits"

  int bind_errno, listen_errno = -1;
  {
    NamespaceGuard inside(lab.server());
    UniqueFd restarted = TcpSocket(family);
    if (reuseaddr) SetReuseAddr(restarted.get());
    bind_errno = BindErrno(restarted.get(), lab.ServerAt(kServerPort));
    if (bind_errno == 0) listen_errno = ListenErrno(restarted.get());
  }
  const bool still_time_wait = TcpTableState(lab.server(), family, kServerPort, client_port) == "TIME_WAIT";
  lab.StopCaptures();
  record.Observe("so_reuseaddr", reuseaddr);
  record.Observe("time_wait_on_server_port", still_time_wait);
  record.Observe("restart_bind_errno", ErrnoName(bind_errno));
  record.Observe("restart_listen_errno", listen_errno < 0 ? "not tried" : ErrnoName(listen_errno));
  lab.AddCaptures(record, "one connection closed by the server first; the restart sends nothing");
}

TEST_P(TimeWait, S3a_RestartWithoutReuseAddr) {
  ScenarioRecord& record = Record("S3a-no-reuseaddr");
  TCPREPRO_STORY(record, RestartStory(record, GetParam(), false));
}

TEST_P(TimeWait, S3a_RestartWithReuseAddr) {
  ScenarioRecord& record = Record("S3a-reuseaddr");
  TCPREPRO_STORY(record, RestartStory(record, GetParam(), true));
}

// The seed's side claim: with SO_REUSEADDR one process listens on 0.0.0.0:P
// and another listens on a specific address on P.
TEST_P(TimeWait, S3a_WildcardAndSpecificAddress) {
  ScenarioRecord& record = Record("S3a-wildcard-specific");
  TCPREPRO_STORY(record, {
    const Family family = GetParam();
    NetNamespace ns = NetNamespace::Create("host");
    NamespaceGuard inside(ns);
    const Endpoint wildcard{family == Family::kIpv4 ? "0.0.0.0" : "::", kServerPort};
    const Endpoint specific{family == Family::kIpv4 ? "127.0.0.1" : "::1", kServerPort};
    auto reuse_socket = [&] {
      UniqueFd fd = TcpSocket(family);
      SetReuseAddr(fd.get());
      return fd;
    };
    // 1. The wildcard socket listens; the specific one tries to bind.
    UniqueFd a = reuse_socket();
    ASSERT_EQ(BindErrno(a.get(), wildcard), 0);
    ASSERT_EQ(ListenErrno(a.get()), 0);
    UniqueFd b = reuse_socket();
    record.Observe("specific_bind_errno_while_wildcard_listens", ErrnoName(BindErrno(b.get(), specific)));
    a.reset();
    b.reset();
    // 2. The wildcard socket is only bound (not listening).
    UniqueFd c = reuse_socket();
    ASSERT_EQ(BindErrno(c.get(), wildcard), 0);
    UniqueFd d = reuse_socket();
    const int bound_errno = BindErrno(d.get(), specific);
    record.Observe("specific_bind_errno_while_wildcard_bound", ErrnoName(bound_errno));
    // Both bound: can both listen?
    record.Observe("both_listen_errno",
                   bound_errno == 0 ? ErrnoName(ListenErrno(c.get()) ?: ListenErrno(d.get())) : "not tried");
    c.reset();
    d.reset();
    // 3. The specific socket listens first; the wildcard one tries to bind.
    UniqueFd e = reuse_socket();
    ASSERT_EQ(BindErrno(e.get(), specific), 0);
    ASSERT_EQ(ListenErrno(e.get()), 0);
    UniqueFd f = reuse_socket();
    record.Observe("wildcard_bind_errno_while_specific_listens", ErrnoName(BindErrno(f.get(), wildcard)));
    // 4. The same with SO_REUSEPORT on both, for contrast.
    e.reset();
    f.reset();
    UniqueFd g = TcpSocket(family), h = TcpSocket(family);
    SetIntOption(g.get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
    SetIntOption(h.get(), SOL_SOCKET, SO_REUSEPORT, 1, "SO_REUSEPORT");
    ASSERT_EQ(BindErrno(g.get(), wildcard), 0);
    ASSERT_EQ(ListenErrno(g.get()), 0);
    const int reuseport_errno = BindErrno(h.get(), specific);
    record.Observe("reuseport_specific_bind_errno_while_wildcard_listens", ErrnoName(reuseport_errno));
  });
}

// ---------------------------------------------------------------------------
// S3b: tcp_tw_reuse semantics. One test per setting whose expected outcome
// is the same for both families; the sweep is the set of tests.

TEST_P(TimeWait, S3b_Reuse0_Loopback) { RunReuseSweep("S3b-reuse0-loopback", Path::kLoopback, "0", true); }
TEST_P(TimeWait, S3b_Reuse0_Veth) { RunReuseSweep("S3b-reuse0-veth", Path::kVeth, "0", true); }
TEST_P(TimeWait, S3b_Reuse1_Loopback) { RunReuseSweep("S3b-reuse1-loopback", Path::kLoopback, "1", true); }
TEST_P(TimeWait, S3b_Reuse1_Veth) { RunReuseSweep("S3b-reuse1-veth", Path::kVeth, "1", true); }
TEST_P(TimeWait, S3b_Reuse2_Loopback) { RunReuseSweep("S3b-reuse2-loopback", Path::kLoopback, "2", true); }
TEST_P(TimeWait, S3b_Reuse2_Veth) { RunReuseSweep("S3b-reuse2-veth", Path::kVeth, "2", true); }
TEST_P(TimeWait, S3b_NoTimestamps_Reuse2_Loopback) {
  RunReuseSweep("S3b-nots-reuse2-loopback", Path::kLoopback, "2", false);
}
TEST_P(TimeWait, S3b_NoTimestamps_Reuse1_Veth) { RunReuseSweep("S3b-nots-reuse1-veth", Path::kVeth, "1", false); }

// ---------------------------------------------------------------------------
// S3c: the stale RST (seed 002 §3.14.4, first problem).

// The seed's story with real packets: the server's RST to the client's first
// SYN is held in the network until the reused connection is up.
TEST_P(TimeWait, S3c_HeldRst) {
  ScenarioRecord& record = Record("S3c-held-rst");
  TCPREPRO_STORY(record, {
    TwLab lab(GetParam(), Path::kVeth, record.dir());
    const ReuseSysctls sysctls = ClientReuseSysctls(record, lab, "1", /*small_delay=*/true);
    // Only the server's RSTs from the service port: the answer to the SYN.
    auto hold = Impair(lab.server(), {lab.server_link(), Direction::kEgress,
                                      {GetParam(), kServerPort, std::nullopt, kTcpRst, kTcpRst, 0},
                                      ImpairAction::Hold()});
    record.NoteImpairment(*hold);

    // 1. SYN to a port nobody listens on; the RST is held.
    UniqueFd first;
    {
      NamespaceGuard inside(lab.client());
      first = TcpSocket(GetParam());
      ::fcntl(first.get(), F_SETFL, O_NONBLOCK);
      ASSERT_EQ(ConnectErrno(first.get(), lab.ServerAt(kServerPort)), EINPROGRESS);
    }
    ASSERT_TRUE(hold->WaitMatched(1, kEventDeadline)) << "the server's RST never left";
    // 2. The server starts; the client's retransmitted SYN (initial RTO, 1 s) meets it.
    UniqueFd listener = Listen(lab.server(), lab.ServerAt(kServerPort));
    struct pollfd pfd = {first.get(), POLLOUT, 0};
    ASSERT_EQ(::poll(&pfd, 1, 2 * kIoTimeoutMillis), 1) << "the retransmitted SYN never connected";
    const int first_errno = SocketError(first.get());
    ASSERT_EQ(first_errno, 0) << ErrnoName(first_errno);
    ::fcntl(first.get(), F_SETFL, 0);
    SetIoTimeout(first.get(), kIoTimeoutMillis);
    UniqueFd server = Accept(listener);
    ASSERT_TRUE(Echo(first.get(), server.get()));
    // 3. They are done; the client closes first and holds TIME_WAIT.
    ClientActiveClose(lab, first, server);
    // 4. The client reuses the 4-tuple.
    auto [second, server2] = ReuseOrSkip(lab, record, listener);
    // 5. The network delivers the held RST to the new connection.
    const CounterSnapshot before = CounterSnapshot::Take(lab.client());
    const double released_at = WallNow();
    hold->Release();
    const bool arrived = WaitFor(
        [&] { return CounterSnapshot::Take(lab.client()).get("TcpInSegs") > before.get("TcpInSegs"); },
        kEventDeadline);
    ASSERT_TRUE(arrived) << "the released RST never reached the client";
    // Whatever the client answers (a challenge ACK) goes out in the same softirq;
    // the echo below is the synchronisation point.
    const std::string state_after = TcpState(second.get());
    const int error_after = SocketError(second.get());
    const bool alive = Echo(second.get(), server2.get());
    const CounterSnapshot after = CounterSnapshot::Take(lab.client());
    lab.StopCaptures();

    record.Observe("held_rsts", hold->impaired());
    record.Observe("client_state_after_release", state_after);
    record.Observe("client_so_error_after_release", ErrnoName(error_after));
    record.Observe("new_connection_survives", alive);
    ObserveDeltas(record, "client_", before, after, kRstCounters);

    // From the client's capture: the held RST and the new connection's window.
    const auto flow = Flow(ReadTcpSegments(lab.client_capture().file()), kClientPort, kServerPort);
    int syns_first = 0;
    const auto isns = ClientIsns(flow);
    std::optional<TcpSegment> late_rst, synack2;
    std::vector<std::string> after_release;
    bool answer_done = false;
    for (const auto& s : flow) {
      if (FromClient(s) && s.syn() && !isns.empty() && s.seq == isns[0]) ++syns_first;
      if (!FromClient(s) && s.syn() && s.has_ack() && isns.size() >= 2 && s.ack == isns[1] + 1) synack2 = s;
      if (s.time >= released_at && !answer_done) {
        if (late_rst && (s.payload > 0 || after_release.size() >= 3)) {
          answer_done = true;  // the echo started: what came before it answered the RST
        } else if (late_rst && FromClient(s)) {
          after_release.push_back(Labelled(s));
        } else if (!FromClient(s) && s.rst() && !late_rst) {
          late_rst = s;
        }
      }
    }
    record.Observe("first_connection_syns", syns_first);
    if (late_rst) {
      record.Observe("stale_rst_flags", late_rst->flag_string());
      record.Observe("stale_rst_seq", late_rst->seq);
      record.Observe("stale_rst_has_timestamp", late_rst->ts_val.has_value());
      if (synack2) {
        // Where the RST's seq falls relative to the new connection's rcv_nxt (no data came from the server yet).
        const int64_t offset = static_cast<int32_t>(late_rst->seq - (synack2->seq + 1));
        record.Observe("stale_rst_seq_minus_rcv_nxt", offset);
        record.Observe("stale_rst_seq_is_rcv_nxt", offset == 0);
      }
    }
    record.Observe("client_answer_to_stale_rst", after_release);
    lab.AddCaptures(record, "the held RST, the SYN retransmission that connects, the close, the reused "
                            "connection and the RST's late arrival");
  });
}

// The deterministic variant: on a reused 4-tuple, segments crafted with a stale
// timestamp and exact sequence numbers show the code path the seed quotes
// ("Reset is accepted even if it did not pass PAWS").
TEST_P(TimeWait, S3c_CraftedStaleRst) {
  ScenarioRecord& record = Record("S3c-crafted-rst");
  TCPREPRO_STORY(record, {
    TwLab lab(GetParam(), Path::kVeth, record.dir());
    const ReuseSysctls sysctls = ClientReuseSysctls(record, lab, "1", /*small_delay=*/true);
    // No per-socket rate limit between the answers to the crafted segments.
    SysctlGuard ratelimit(lab.client(), "net.ipv4.tcp_invalid_ratelimit", "0");
    record.NoteSysctl(ratelimit);
    UniqueFd listener = Listen(lab.server(), lab.ServerAt(kServerPort));
    UniqueFd first = Connect(lab.client(), lab.ServerAt(kServerPort));
    UniqueFd server = Accept(listener);
    ASSERT_TRUE(Echo(first.get(), server.get()));
    ClientActiveClose(lab, first, server);
    auto [client, server2] = ReuseOrSkip(lab, record, listener);
    ASSERT_TRUE(Echo(client.get(), server2.get()));

    // What the client expects next, and a timestamp ten minutes older than the server's clock.
    const uint32_t rcv_nxt = SendSequence(server2.get());
    const uint32_t snd_nxt = ReceiveSequence(server2.get());
    const uint32_t stale_ts = CurrentTsVal(server2.get()) - 600000;
    CraftedSegment segment{lab.ServerAt(kServerPort), lab.ClientAt(kClientPort), rcv_nxt, snd_nxt, 0, 502,
                           stale_ts, 0};
    // Sends one crafted segment and waits until the client has counted it, and
    // (briefly) until one of `answer_counters` moved.
    auto send_and_settle = [&](const CraftedSegment& s, const std::string& step,
                               const std::vector<std::string>& answer_counters) {
      const CounterSnapshot before = CounterSnapshot::Take(lab.client());
      SendCraftedSegment(lab.server(), s);
      EXPECT_TRUE(WaitFor([&] {
        return CounterSnapshot::Take(lab.client()).get("TcpInSegs") > before.get("TcpInSegs");
      }, kEventDeadline)) << step << ": the crafted segment never arrived";
      // The answer, if any, is counted in the same softirq; a short bounded
      // wait for it covers a receive still running on another CPU.
      WaitFor([&] {
        const CounterSnapshot now = CounterSnapshot::Take(lab.client());
        for (const auto& name : answer_counters) {
          if (before.has(name) && now.get(name) > before.get(name)) return true;
        }
        return false;
      }, 500ms);
      const CounterSnapshot after = CounterSnapshot::Take(lab.client());
      ObserveDeltas(record, step + "_", before, after, kRstCounters);
      record.Observe(step + "_client_state", TcpState(client.get()));
    };
    // 1. A pure ACK with the stale timestamp at rcv_nxt: PAWS rejects it.
    segment.flags = kTcpAck;
    send_and_settle(segment, "stale_ack", {"TcpExtPAWSEstab", "TcpExtPAWSOldAck"});
    // 1b. The same one byte below rcv_nxt: an "old ACK" (v6.14 counts it apart and sends no dupack).
    segment.seq = rcv_nxt - 1;
    send_and_settle(segment, "stale_old_ack", {"TcpExtPAWSEstab", "TcpExtPAWSOldAck"});
    // 2. An RST with the stale timestamp, in window but one past rcv_nxt: RFC 5961 challenge ACK.
    segment.flags = kTcpRst;
    segment.seq = rcv_nxt + 1;
    segment.ack = 0;
    send_and_settle(segment, "stale_rst_in_window", {"TcpExtTCPChallengeACK"});
    const bool alive_after_in_window = Echo(client.get(), server2.get());
    record.Observe("alive_after_in_window_rst", alive_after_in_window);
    // 3. The same RST at exactly rcv_nxt (recomputed: the echo moved it).
    segment.seq = SendSequence(server2.get());
    send_and_settle(segment, "stale_rst_exact", {"TcpEstabResets"});
    WaitFor([&] { return TcpState(client.get()) == "CLOSE"; }, 1s);
    record.Observe("exact_rst_client_state", TcpState(client.get()));
    record.Observe("exact_rst_client_so_error", ErrnoName(SocketError(client.get())));
    record.Observe("stale_ts_age_ms", 600000);
    lab.StopCaptures();
    lab.AddCaptures(record, "the first connection, its close, the reused connection and the crafted segments "
                            "(ACK, in-window RST, exact RST, all with a stale timestamp)");
  });
}

// ---------------------------------------------------------------------------
// S3d: the lost final ACK (seed 002 §3.14.4, second problem).

struct LostAckSetup {
  std::unique_ptr<Impairment> drop;
  UniqueFd listener, server;
};

// Connects, exchanges, installs the drop of the client's first pure ACK from
// now on (the final ACK of the close), and closes: the client FIN first, the
// server answers with shutdown(SHUT_WR) so its socket stays observable.
LostAckSetup CloseLosingFinalAck(TwLab& lab, ScenarioRecord& record) {
  LostAckSetup out;
  out.listener = Listen(lab.server(), lab.ServerAt(kServerPort));
  UniqueFd client = Connect(lab.client(), lab.ServerAt(kServerPort));
  out.server = Accept(out.listener);
  if (!Echo(client.get(), out.server.get())) throw LabError("echo on the first connection failed");
  // A last one-way message carries the client's ACK of the echo, so no
  // delayed pure ACK is pending when the rule starts counting.
  const std::string bye = "bye";
  char buf[8];
  if (::send(client.get(), bye.data(), bye.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bye.size()) ||
      ::recv(out.server.get(), buf, bye.size(), MSG_WAITALL) != static_cast<ssize_t>(bye.size())) {
    throw LabError("the last message of the first connection failed");
  }
  out.drop = Impair(lab.client(), {lab.client_link(), Direction::kEgress,
                                   {lab.family(), kClientPort, kServerPort,
                                    kTcpSyn | kTcpFin | kTcpRst | kTcpPsh | kTcpAck, kTcpAck, 1},
                                   ImpairAction::Drop()});
  record.NoteImpairment(*out.drop);
  client.reset();
  char byte;
  if (::recv(out.server.get(), &byte, 1, 0) != 0) throw LabError("the server did not read EOF");
  ::shutdown(out.server.get(), SHUT_WR);
  if (!out.drop->WaitMatched(1, kEventDeadline)) throw LabError("the client's final ACK never left");
  if (!WaitFor([&] { return TcpTableState(lab.client(), lab.family(), kClientPort, kServerPort) == "TIME_WAIT"; },
               kEventDeadline)) {
    throw LabError("the client never reached TIME_WAIT");
  }
  return out;
}

const std::vector<std::string> kLastAckCounters = {"TcpExtTCPSYNChallenge", "TcpExtTCPChallengeACK",
                                                   "TcpExtTCPACKSkippedChallenge", "TcpExtPAWSEstab",
                                                   "TcpEstabResets", "TcpRetransSegs"};

// Without reuse: the server retransmits its FIN and the client's TIME_WAIT answers.
TEST_P(TimeWait, S3d_LostFinalAckTimeWaitAnswers) {
  ScenarioRecord& record = Record("S3d-time-wait");
  TCPREPRO_STORY(record, {
    TwLab lab(GetParam(), Path::kVeth, record.dir());
    // No reuse: the one-port range only pins the client's port for the drop rule.
    const ReuseSysctls sysctls = ClientReuseSysctls(record, lab, "0", /*small_delay=*/false);
    const CounterSnapshot before = CounterSnapshot::Take(lab.server());
    LostAckSetup setup = CloseLosingFinalAck(lab, record);
    const std::string state_after_drop = TcpState(setup.server.get());
    const auto start = Clock::now();
    const bool closed = WaitFor([&] { return TcpState(setup.server.get()) == "CLOSE"; }, kEventDeadline);
    record.Observe("server_state_after_lost_ack", state_after_drop);
    record.Observe("server_closed", closed);
    record.Observe("server_close_wait_ms", MillisSince(start));
    record.Observe("server_end_state", TcpState(setup.server.get()));
    record.Observe("server_so_error", ErrnoName(SocketError(setup.server.get())));
    record.Observe("dropped_acks", setup.drop->impaired());
    const CounterSnapshot after = CounterSnapshot::Take(lab.server());
    ObserveDeltas(record, "server_", before, after, kLastAckCounters);
    lab.StopCaptures();
    const auto flow = Flow(ReadTcpSegments(lab.server_capture().file()), kClientPort, kServerPort);
    int server_fins = 0;
    bool acked_after_retransmission = false;  // a client ACK after the server's second FIN
    std::vector<std::string> close_exchange;
    bool closing = false;
    for (const auto& s : flow) {
      if (s.flags & kTcpFin) closing = true;
      if (closing) close_exchange.push_back(Labelled(s));
      if (!FromClient(s) && (s.flags & kTcpFin)) ++server_fins;
      if (server_fins >= 2 && FromClient(s) && s.flags == kTcpAck) acked_after_retransmission = true;
    }
    record.Observe("server_fins_sent", server_fins);
    record.Observe("time_wait_acked_retransmitted_fin", acked_after_retransmission);
    record.Observe("close_exchange_at_server", close_exchange);
    lab.AddCaptures(record, "the connection, the close whose final ACK is dropped at the client's egress, the "
                            "retransmitted FIN and the TIME_WAIT's answer");
  });
}

// With tcp_tw_reuse: the client reconnects on the 4-tuple while the server is
// still in LAST_ACK.
TEST_P(TimeWait, S3d_LostFinalAckReuse) {
  ScenarioRecord& record = Record("S3d-reuse");
  TCPREPRO_STORY(record, {
    TwLab lab(GetParam(), Path::kVeth, record.dir());
    const ReuseSysctls sysctls = ClientReuseSysctls(record, lab, "1", /*small_delay=*/true);
    // Keep the server's FIN retransmission away from the client's TIME_WAIT
    // until the reconnect (rto_min on the server's route to the client).
    const std::string host_route = lab.ClientAt(0).ip + (GetParam() == Family::kIpv4 ? "/32" : "/128");
    CheckedRunIn(lab.server(), {"ip", GetParam() == Family::kIpv4 ? "-4" : "-6", "route", "add", host_route, "dev",
                                "s0", "rto_min", kServerRtoMin});
    record.Observe("server_route_rto_min", kServerRtoMin);
    const CounterSnapshot server_before = CounterSnapshot::Take(lab.server());
    const CounterSnapshot client_before = CounterSnapshot::Take(lab.client());
    LostAckSetup setup = CloseLosingFinalAck(lab, record);
    const auto in_time_wait = Clock::now();
    const double reconnect_at = WallNow();
    Reconnect again = ReconnectUntilReuse(lab, in_time_wait, kReuseDeadline, &setup.server);
    record.Observe("reconnect_errno", ErrnoName(again.err));
    record.Observe("reuse_wait_ms", again.wait_ms);
    record.Observe("server_state_at_reconnect", again.server_state);
    record.Observe("reconnect_connect_ms", again.connect_ms);
    record.Observe("reused", again.err != EADDRNOTAVAIL);
    if (again.err == EADDRNOTAVAIL) {
      throw StoryEnds("tcp_tw_reuse=1 did not let the client reuse its TIME_WAIT 4-tuple within " +
                      std::to_string(std::chrono::milliseconds(kReuseDeadline).count()) + " ms");
    }
    WaitFor([&] { return TcpState(setup.server.get()) == "CLOSE"; }, 2s);
    record.Observe("server_end_state", TcpState(setup.server.get()));
    record.Observe("server_so_error", ErrnoName(SocketError(setup.server.get())));
    bool accepted_new = false, echo = false;
    if (again.err == 0) {
      UniqueFd server2 = Accept(setup.listener);
      accepted_new = true;
      echo = Echo(again.fd.get(), server2.get());
    }
    record.Observe("new_connection_accepted", accepted_new);
    record.Observe("new_connection_echo", echo);
    ObserveDeltas(record, "server_", server_before, CounterSnapshot::Take(lab.server()), kLastAckCounters);
    ObserveDeltas(record, "client_", client_before, CounterSnapshot::Take(lab.client()), {"TcpOutRsts"});
    lab.StopCaptures();

    // The exchange on the 4-tuple from the reconnect's first SYN to the
    // handshake's final ACK, as the server saw it.
    const auto flow = Flow(ReadTcpSegments(lab.server_capture().file()), kClientPort, kServerPort);
    std::vector<std::string> exchange;
    std::optional<double> first_syn, last_syn;
    int fins_before_reconnect = 0;
    bool synack_seen = false;
    for (const auto& s : flow) {
      if (s.time < reconnect_at) {
        if (!FromClient(s) && (s.flags & kTcpFin)) ++fins_before_reconnect;
        continue;
      }
      if (!first_syn && !(FromClient(s) && s.syn())) continue;
      if (FromClient(s) && s.syn()) {
        if (!first_syn) first_syn = s.time;
        last_syn = s.time;
      }
      exchange.push_back(Labelled(s));
      if (!FromClient(s) && s.syn() && s.has_ack()) synack_seen = true;
      if (synack_seen && FromClient(s) && !s.syn()) break;
      if (exchange.size() >= 12) break;
    }
    record.Observe("server_fins_before_reconnect", fins_before_reconnect);
    record.Observe("reconnect_exchange", exchange);
    if (first_syn && last_syn) record.Observe("syn_resend_after_ms", (*last_syn - *first_syn) * 1000.0);
    lab.AddCaptures(record, "the close whose final ACK is dropped, the reconnect on the same 4-tuple while the "
                            "server is in LAST_ACK, and how that LAST_ACK ends");
  });
}

// ---------------------------------------------------------------------------
// S3e / S3f: the server holds the TIME_WAIT (it closed first) and a segment
// for that 4-tuple arrives: a new SYN, an old SYN, an RST.

struct ServerTimeWait {
  UniqueFd listener;
  uint32_t tw_rcv_nxt = 0;  // the client's FIN + 1
  uint32_t tw_snd_nxt = 0;  // the server's FIN + 1
};

// The client connects from kClientPort (explicit bind), they talk, the server
// closes first: the server's side of the 4-tuple ends in TIME_WAIT, the
// client's socket is gone (it closed passively).
ServerTimeWait ServerActiveClose(TwLab& lab) {
  ServerTimeWait out;
  out.listener = Listen(lab.server(), lab.ServerAt(kServerPort));
  UniqueFd client;
  {
    NamespaceGuard inside(lab.client());
    client = TcpSocket(lab.family());
    SetReuseAddr(client.get());
    SetIoTimeout(client.get(), kIoTimeoutMillis);
    if (int err = BindErrno(client.get(), lab.ClientAt(kClientPort))) throw LabError("bind client: " + ErrnoName(err));
    if (int err = ConnectErrno(client.get(), lab.ServerAt(kServerPort))) throw LabError("connect: " + ErrnoName(err));
  }
  UniqueFd server = Accept(out.listener);
  if (!Echo(client.get(), server.get())) throw LabError("echo on the first connection failed");
  out.tw_rcv_nxt = ReceiveSequence(server.get()) + 1;
  out.tw_snd_nxt = SendSequence(server.get()) + 1;
  server.reset();
  char byte;
  if (::recv(client.get(), &byte, 1, 0) != 0) throw LabError("the client did not read EOF");
  client.reset();
  if (!WaitFor([&] { return TcpTableState(lab.server(), lab.family(), kServerPort, kClientPort) == "TIME_WAIT"; },
               kEventDeadline) ||
      !WaitFor([&] { return !TcpTableState(lab.client(), lab.family(), kClientPort, kServerPort); }, kEventDeadline)) {
    throw LabError("the server never reached TIME_WAIT, or the client's socket never went away");
  }
  return out;
}

// Sends `segment` from the client's namespace and waits until the server's
// namespace has received `segments` more (the crafted one and the client
// kernel's answers to the server's replies).
void SendToTimeWait(TwLab& lab, const CraftedSegment& segment, int64_t segments) {
  const int64_t before = CounterSnapshot::Take(lab.server()).get("TcpInSegs");
  SendCraftedSegment(lab.client(), segment);
  if (!WaitFor([&] { return CounterSnapshot::Take(lab.server()).get("TcpInSegs") >= before + segments; },
               kEventDeadline)) {
    throw LabError("the server's namespace did not receive the expected " + std::to_string(segments) + " segments");
  }
}

bool ServerStillInTimeWait(TwLab& lab, std::chrono::milliseconds settle) {
  // An RST that kills the TIME_WAIT does so in the softirq that counted it;
  // `settle` bounds a receive still running on another CPU.
  WaitFor([&] { return TcpTableState(lab.server(), lab.family(), kServerPort, kClientPort) != "TIME_WAIT"; }, settle);
  return TcpTableState(lab.server(), lab.family(), kServerPort, kClientPort) == "TIME_WAIT";
}

// What the server's capture shows from the first segment at or after `since`.
std::vector<std::string> ExchangeSince(TwLab& lab, double since, size_t most) {
  std::vector<std::string> out;
  for (const auto& s : Flow(ReadTcpSegments(lab.server_capture().file()), kClientPort, kServerPort)) {
    if (s.time >= since && out.size() < most) out.push_back(Labelled(s));
  }
  return out;
}

const std::vector<std::string> kTimeWaitCounters = {"TcpExtTW", "TcpExtTWKilled", "TcpExtTCPACKSkippedTimeWait",
                                                    "TcpExtPAWSTimewait", "TcpEstabResets"};

// S3e, valid SYN: the client comes back from the same port with timestamps on.
TEST_P(TimeWait, S3e_NewSynReusesServerTimeWait) {
  ScenarioRecord& record = Record("S3e-valid-syn");
  TCPREPRO_STORY(record, {
    TwLab lab(GetParam(), Path::kVeth, record.dir());
    ServerTimeWait tw = ServerActiveClose(lab);
    const CounterSnapshot before = CounterSnapshot::Take(lab.server());
    const double since = WallNow();
    int connect_errno;
    double connect_ms;
    UniqueFd client;
    {
      NamespaceGuard inside(lab.client());
      client = TcpSocket(GetParam());
      SetReuseAddr(client.get());
      SetIoTimeout(client.get(), kIoTimeoutMillis);
      ASSERT_EQ(BindErrno(client.get(), lab.ClientAt(kClientPort)), 0);
      const auto start = Clock::now();
      connect_errno = ConnectErrno(client.get(), lab.ServerAt(kServerPort));
      connect_ms = MillisSince(start);
    }
    bool echo = false;
    if (connect_errno == 0) {
      UniqueFd server = Accept(tw.listener);
      echo = Echo(client.get(), server.get());
    }
    ObserveDeltas(record, "server_", before, CounterSnapshot::Take(lab.server()), kTimeWaitCounters);
    lab.StopCaptures();
    record.Observe("connect_errno", ErrnoName(connect_errno));
    record.Observe("connect_ms", connect_ms);
    record.Observe("new_connection_echo", echo);
    record.Observe("exchange", ExchangeSince(lab, since, 3));
    for (const auto& s : Flow(ReadTcpSegments(lab.server_capture().file()), kClientPort, kServerPort)) {
      if (s.time >= since && !FromClient(s) && s.syn() && s.has_ack()) {
        record.Observe("synack_isn_minus_tw_snd_nxt", static_cast<int64_t>(s.seq - tw.tw_snd_nxt));
        record.Observe("synack_isn_from_time_wait", s.seq == tw.tw_snd_nxt + 65537);
        break;
      }
    }
    lab.AddCaptures(record, "the first connection closed by the server, and the client's new SYN from the same port "
                            "that the server's TIME_WAIT accepts");
  });
}

// S3e, invalid SYN: an old sequence number and no timestamp (crafted from the
// client's namespace, where no socket owns the 4-tuple any more).
TEST_P(TimeWait, S3e_OldSynGetsAckThenRst) {
  ScenarioRecord& record = Record("S3e-old-syn");
  TCPREPRO_STORY(record, {
    TwLab lab(GetParam(), Path::kVeth, record.dir());
    SysctlGuard rfc1337(lab.server(), "net.ipv4.tcp_rfc1337", "0");
    record.NoteSysctl(rfc1337);
    ServerTimeWait tw = ServerActiveClose(lab);
    const CounterSnapshot before = CounterSnapshot::Take(lab.server());
    const double since = WallNow();
    // SYN below tw_rcv_nxt: the TIME_WAIT answers with an ACK (seq tw_snd_nxt,
    // ack tw_rcv_nxt); the client's kernel answers that ACK with an RST.
    SendToTimeWait(lab, {lab.ClientAt(kClientPort), lab.ServerAt(kServerPort), tw.tw_rcv_nxt - 100000, 0, kTcpSyn,
                         64240, std::nullopt, std::nullopt},
                   2);
    const bool still = ServerStillInTimeWait(lab, 500ms);
    ObserveDeltas(record, "server_", before, CounterSnapshot::Take(lab.server()), kTimeWaitCounters);
    lab.StopCaptures();
    record.Observe("time_wait_after", still);
    record.Observe("exchange", ExchangeSince(lab, since, 4));
    for (const auto& s : Flow(ReadTcpSegments(lab.server_capture().file()), kClientPort, kServerPort)) {
      if (s.time >= since && !FromClient(s) && !s.syn()) {
        record.Observe("tw_ack_matches_tw_state", s.seq == tw.tw_snd_nxt && s.ack == tw.tw_rcv_nxt);
        break;
      }
    }
    lab.AddCaptures(record, "the first connection closed by the server, a crafted old SYN on its 4-tuple, the "
                            "TIME_WAIT's ACK and the client kernel's RST");
  });
}

// S3f: TIME_WAIT assassination — an RST at exactly tw_rcv_nxt.
void AssassinationStory(ScenarioRecord& record, Family family, const std::string& rfc1337_value) {
  TwLab lab(family, Path::kVeth, record.dir());
  SysctlGuard rfc1337(lab.server(), "net.ipv4.tcp_rfc1337", rfc1337_value);
  record.NoteSysctl(rfc1337);
  ServerTimeWait tw = ServerActiveClose(lab);
  const CounterSnapshot before = CounterSnapshot::Take(lab.server());
  const double since = WallNow();
  SendToTimeWait(lab, {lab.ClientAt(kClientPort), lab.ServerAt(kServerPort), tw.tw_rcv_nxt, 0, kTcpRst, 0,
                       std::nullopt, std::nullopt},
                 1);
  const bool still = ServerStillInTimeWait(lab, 500ms);
  ObserveDeltas(record, "server_", before, CounterSnapshot::Take(lab.server()), kTimeWaitCounters);
  lab.StopCaptures();
  record.Observe("time_wait_after_rst", still);
  record.Observe("exchange", ExchangeSince(lab, since, 3));
  lab.AddCaptures(record, "the first connection closed by the server and a crafted RST at the TIME_WAIT's rcv_nxt");
}

TEST_P(TimeWait, S3f_RstKillsTimeWait) {
  ScenarioRecord& record = Record("S3f-rfc1337-0");
  TCPREPRO_STORY(record, AssassinationStory(record, GetParam(), "0"));
}

TEST_P(TimeWait, S3f_Rfc1337IgnoresRst) {
  ScenarioRecord& record = Record("S3f-rfc1337-1");
  TCPREPRO_STORY(record, AssassinationStory(record, GetParam(), "1"));
}

INSTANTIATE_TEST_SUITE_P(S3, TimeWait, ::testing::Values(Family::kIpv4, Family::kIpv6),
                         [](const auto& info) { return FamilyName(info.param); });

}  // namespace
}  // namespace tcprepro
