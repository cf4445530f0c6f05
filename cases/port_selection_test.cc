// S2. Ephemeral port selection (seed 000 §3, seed 001; SCENARIOS.md §S2).
//
// Claim (seed 000): Linux 2.6 started at a random port; 3.10 walks ports
// sequentially from a hint, so a retrying client scans ports in order.
// Claim (seed 001): an outgoing connection's ephemeral port can take the port
// a service later wants to listen on; splitting ip_local_port_range away from
// service ports, or ip_local_reserved_ports, prevents it.
//
// The sequence tests (S2a, S2b) record the raw source ports in connect order,
// taken from the captured SYNs; the harness derives deltas, parity, wraps and
// fits the historical algorithms to them (harness/port_models). The other
// tests record outcomes (errno, counts, parity shares). Nothing here judges:
// a test fails only when the machinery fails. Expectations per kernel live in
// harness/scenarios/port_selection.toml.
//
// table_perturb (5.12+) is one table for the whole host, indexed by a hash of
// (saddr, daddr, dport) that ignores the namespace: tests that may run in
// parallel therefore use destination ports of their own, so that no two
// sequences share a table slot.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cases/case_support.h"
#include "cases/port_sampling.h"
#include "netns/capture.h"
#include "netns/link.h"
#include "netns/namespace.h"
#include "netns/pcap_reader.h"
#include "netns/record.h"
#include "netns/socket.h"
#include "netns/sysctl.h"

namespace tcprepro {
namespace {

// Option numbers from linux/in.h, which cannot be included beside netinet/in.h.
constexpr int kIpBindAddressNoPort = 24;  // v4.2, 90c337da1524
constexpr int kIpLocalPortRange = 51;     // v6.3 (6.1.32), 91d0b78c5177

constexpr const char* kDefaultRange = "32768 60999";
// 256 ports: a few hundred connects wrap around it several times.
constexpr const char* kNarrowRange = "40000 40255";

struct Variant {
  Family family;
};

std::string VariantName(const Variant& v) { return FamilyName(v.family); }
void PrintTo(const Variant& v, std::ostream* os) { *os << VariantName(v); }

// One namespace; every destination is on its loopback.
class LoopbackLab {
 public:
  LoopbackLab(Family family, const std::filesystem::path& evidence_dir)
      : ns_(NetNamespace::Create("client")), ip_(LoopbackAddress(family)) {
    capture_ = std::make_unique<PacketCapture>(ns_, evidence_dir / "client.pcap");
  }
  const NetNamespace& ns() const { return ns_; }
  Endpoint At(uint16_t port) const { return {ip_, port}; }
  PacketCapture& capture() { return *capture_; }

 private:
  NetNamespace ns_;
  std::string ip_;
  std::unique_ptr<PacketCapture> capture_;
};

// Two hosts on a veth: "client" (where the ports are picked, and where seed
// 001's service lives) and "remote" (the servers the client talks to).
class VethLab {
 public:
  VethLab(Family family, const std::filesystem::path& evidence_dir)
      : client_(NetNamespace::Create("client")),
        remote_(NetNamespace::Create("remote")),
        veth_(VethEnd{&client_, "veth0", {"10.202.0.1/24", "fd00:202::1/64"}},
              VethEnd{&remote_, "veth1", {"10.202.0.2/24", "fd00:202::2/64"}}),
        v4_(family == Family::kIpv4) {
    capture_ = std::make_unique<PacketCapture>(client_, evidence_dir / "client.pcap");
  }
  const NetNamespace& client() const { return client_; }
  const NetNamespace& remote() const { return remote_; }
  Endpoint Client(uint16_t port) const { return {v4_ ? "10.202.0.1" : "fd00:202::1", port}; }
  Endpoint Remote(uint16_t port) const { return {v4_ ? "10.202.0.2" : "fd00:202::2", port}; }
  Endpoint Wildcard(uint16_t port) const { return {v4_ ? "0.0.0.0" : "::", port}; }
  PacketCapture& capture() { return *capture_; }

 private:
  NetNamespace client_, remote_;
  VethPair veth_;
  bool v4_;
  std::unique_ptr<PacketCapture> capture_;
};

UniqueFd ListenIn(const NetNamespace& ns, const Endpoint& at, int backlog = 4096) {
  NamespaceGuard inside(ns);
  return ListenOn(at, backlog);
}

// Source ports of the SYNs (not SYN-ACKs) to any of `dports`, in capture order,
// with the index of the destination each went to.
struct SynSequence {
  std::vector<uint16_t> ports;
  std::vector<int> destination_of;
};

SynSequence SynsTo(const std::vector<TcpSegment>& segments, const std::vector<uint16_t>& dports) {
  SynSequence out;
  for (const auto& seg : segments) {
    if (!seg.syn() || seg.has_ack()) continue;
    const auto it = std::find(dports.begin(), dports.end(), seg.dport);
    if (it == dports.end()) continue;
    out.ports.push_back(seg.sport);
    out.destination_of.push_back(static_cast<int>(it - dports.begin()));
  }
  return out;
}

double Share(const std::vector<uint16_t>& ports, bool (*pred)(uint16_t)) {
  if (ports.empty()) return 0;
  return static_cast<double>(std::count_if(ports.begin(), ports.end(), pred)) / ports.size();
}
bool IsEven(uint16_t port) { return port % 2 == 0; }
bool IsOdd(uint16_t port) { return port % 2 == 1; }

std::vector<uint16_t> Head(const std::vector<uint16_t>& ports, size_t n) {
  return {ports.begin(), ports.begin() + std::min(n, ports.size())};
}

// setsockopt as an outcome: 0, or the errno (ENOPROTOOPT where the kernel lacks the option).
int SetOptionErrno(int fd, int level, int name, int value) {
  return ::setsockopt(fd, level, name, &value, sizeof value) == 0 ? 0 : errno;
}

// Probes a socket option on a throwaway socket; Unsupported (the test skips) if the kernel lacks it.
void RequireSocketOption(Family family, int name, int value, const std::string& what) {
  UniqueFd probe = TcpSocket(family);
  if (int err = SetOptionErrno(probe.get(), SOL_IP, name, value)) {
    throw Unsupported(what + " (setsockopt returned " + ErrnoName(err) + ")");
  }
}

class PortSelection : public ::testing::TestWithParam<Variant> {
 protected:
  Family family() const { return GetParam().family; }

  ScenarioRecord& Record(const std::string& scenario) {
    record_ = std::make_unique<ScenarioRecord>(EvidenceDirForCurrentTest(), scenario,
                                               nlohmann::json{{"family", FamilyName(family())}});
    return *record_;
  }

  // Connects `schedule.size()` times from the lab's namespace, the i-th time to
  // destination schedule[i]; each destination is a port on loopback, listening
  // when `listen` is set, closed otherwise. Records the sequence from the SYNs.
  void RunSequenceStory(ScenarioRecord& record, const std::string& range, const std::vector<uint16_t>& dports,
                        const std::vector<int>& schedule, bool listen) {
    LoopbackLab lab(family(), record.dir());
    SysctlGuard range_guard(lab.ns(), "net.ipv4.ip_local_port_range", range);
    record.NoteSysctl(range_guard);

    std::vector<ConnectSample> samples;
    samples.reserve(schedule.size());
    {
      NamespaceGuard inside(lab.ns());
      std::vector<UniqueFd> listeners;
      if (listen) {
        for (uint16_t port : dports) listeners.push_back(ListenOn(lab.At(port)));
      }
      for (int destination : schedule) {
        const int listener = listen ? listeners[destination].get() : -1;
        samples.push_back(SampleConnect(lab.At(dports[destination]), listener));
      }
    }
    lab.capture().Stop();

    const SynSequence syns = SynsTo(ReadTcpSegments(lab.capture().file()), dports);
    // Machinery: one SYN per connect on a lossless loopback, or the capture missed packets.
    ASSERT_EQ(syns.ports.size(), samples.size()) << "captured SYNs vs connect() calls";
    ASSERT_EQ(syns.destination_of, schedule) << "SYNs out of connect order";

    std::map<std::string, int> errnos;
    int reported = 0, disagreements = 0;
    for (size_t i = 0; i < samples.size(); ++i) {
      ++errnos[ErrnoName(samples[i].err)];
      if (samples[i].reported_port == 0) continue;
      ++reported;
      disagreements += samples[i].reported_port != syns.ports[i];
    }
    const auto [low, high] = ParsePortRange(range_guard.effective());
    record.Observe("port_range", {low, high});
    record.Observe("destinations", dports.size());
    record.Observe("sequence", syns.ports);
    if (dports.size() > 1) record.Observe("destination_of", syns.destination_of);
    record.Observe("connect_errnos", errnos);
    record.Observe("getsockname_reported", reported);
    record.Observe("getsockname_disagrees_with_syn", disagreements);
    record.AddCapture(lab.capture(), "every TCP segment in the client's namespace; the SYNs are the sequence");
  }

 private:
  std::unique_ptr<ScenarioRecord> record_;
};

// ---------------------------------------------------------------------------
// S2a: the seed's reconnecting client (zmq): connect() to a closed port, again
// and again, with the default range.
TEST_P(PortSelection, S2a_RetryClosedPort) {
  ScenarioRecord& record = Record("S2a");
  // Above the range, so no source port can equal it (no self-connect here).
  const std::vector<uint16_t> closed = {61001};
  TCPREPRO_STORY(record, RunSequenceStory(record, kDefaultRange, closed, std::vector<int>(200, 0), false));
}

// S2b: successful connects to one listening destination, in a 256-port range
// so that the sequence wraps around.
TEST_P(PortSelection, S2b_OneDestination) {
  ScenarioRecord& record = Record("S2b-one");
  TCPREPRO_STORY(record, RunSequenceStory(record, kNarrowRange, {47101}, std::vector<int>(300, 0), true));
}

// S2b: one destination alone (100 connects), then four destinations in turn
// (100 rounds). A shared hint (<5.12) makes a destination's step grow with the
// connects to the others in between; a per-destination table does not.
TEST_P(PortSelection, S2b_InterleavedDestinations) {
  ScenarioRecord& record = Record("S2b-interleaved");
  std::vector<int> schedule(100, 0);
  for (int round = 0; round < 100; ++round) {
    for (int destination = 0; destination < 4; ++destination) schedule.push_back(destination);
  }
  TCPREPRO_STORY(record, RunSequenceStory(record, kNarrowRange, {47201, 47202, 47203, 47204}, schedule, true));
}

// ---------------------------------------------------------------------------
// S2c: which parity connect() prefers, which bind(0) prefers, and what
// IP_BIND_ADDRESS_NO_PORT (bind an address, let connect() choose) gets.
TEST_P(PortSelection, S2c_Parity) {
  ScenarioRecord& record = Record("S2c");
  TCPREPRO_STORY(record, {
    constexpr size_t kSamples = 100;
    LoopbackLab lab(family(), record.dir());
    const Endpoint closed = lab.At(61011);
    std::vector<uint16_t> bind_ports;
    bool has_no_port = false;
    {
      SysctlGuard range(lab.ns(), "net.ipv4.ip_local_port_range", kDefaultRange);
      record.NoteSysctl(range);
      NamespaceGuard inside(lab.ns());
      for (size_t i = 0; i < kSamples; ++i) SampleConnect(closed);
      for (size_t i = 0; i < kSamples; ++i) {
        UniqueFd fd = TcpSocket(family());
        ASSERT_EQ(BindErrno(fd.get(), lab.At(0)), 0);
        bind_ports.push_back(LocalEndpoint(fd.get()).port);
      }
      UniqueFd probe = TcpSocket(family());
      has_no_port = SetOptionErrno(probe.get(), SOL_IP, kIpBindAddressNoPort, 1) == 0;
      for (size_t i = 0; has_no_port && i < kSamples; ++i) {
        UniqueFd fd = TcpSocket(family());
        SetIntOption(fd.get(), SOL_IP, kIpBindAddressNoPort, 1, "IP_BIND_ADDRESS_NO_PORT");
        ASSERT_EQ(BindErrno(fd.get(), lab.At(0)), 0);
        ConnectErrno(fd.get(), closed);
      }
    }
    {
      // An odd low end: "ports of @low parity" first means odd ports now.
      SysctlGuard odd_range(lab.ns(), "net.ipv4.ip_local_port_range", "32769 61000");
      NamespaceGuard inside(lab.ns());
      for (size_t i = 0; i < kSamples; ++i) SampleConnect(closed);
    }
    lab.capture().Stop();
    // Ground truth from the wire: the SYNs, in connect order, in three runs.
    const std::vector<uint16_t> syns = SynsTo(ReadTcpSegments(lab.capture().file()), {closed.port}).ports;
    const size_t runs = has_no_port ? 3 : 2;
    ASSERT_EQ(syns.size(), runs * kSamples) << "captured SYNs vs connect() calls";
    auto run = [&](size_t index) {
      return std::vector<uint16_t>(syns.begin() + index * kSamples, syns.begin() + (index + 1) * kSamples);
    };
    const std::vector<uint16_t> connect_ports = run(0), odd_low_ports = run(runs - 1);

    record.Observe("samples_each", kSamples);
    record.Observe("connect_even_share", Share(connect_ports, IsEven));
    record.Observe("bind0_odd_share", Share(bind_ports, IsOdd));
    if (has_no_port) record.Observe("bind_no_port_connect_even_share", Share(run(1), IsEven));
    record.Observe("connect_odd_share_with_odd_low", Share(odd_low_ports, IsOdd));
    record.Observe("connect_ports_head", Head(connect_ports, 16));
    record.Observe("bind0_ports_head", Head(bind_ports, 16));
    record.AddCapture(lab.capture(), "connects to a closed port: plain, after bind with IP_BIND_ADDRESS_NO_PORT, "
                                     "and with an odd low end");
  });
}

// ---------------------------------------------------------------------------
// S2d: a 10-port range, each connection closed by the client first (TIME_WAIT
// on the client). Destination A runs out; destination B still connects,
// because a port is only taken for one 4-tuple.
constexpr const char* kExhaustionRange = "40000 40009";
constexpr int kExhaustionBudget = 64;  // far above the range: the loop ends on EADDRNOTAVAIL

struct ExhaustionOutcome {
  int connected = 0;
  int last_errno = 0;
};

// TIME_WAIT sockets in the calling thread's namespace, from /proc/net/tcp{,6}
// (state 06). A closed socket's TIME_WAIT lives on in a timewait sock that no
// file descriptor reaches, so the table is where to count them.
int CountTimeWait(Family family) {
  std::ifstream table(family == Family::kIpv4 ? "/proc/thread-self/net/tcp" : "/proc/thread-self/net/tcp6");
  if (!table) throw LabError("cannot read the TCP socket table");
  std::string line, slot, local, remote, state;
  std::getline(table, line);  // header
  int count = 0;
  while (table >> slot >> local >> remote >> state) {
    count += state == "06";
    std::getline(table, line);
  }
  return count;
}

// Connects to `to` until connect() fails, leaving each connection in TIME_WAIT
// on the client: the client half-closes, the server closes on EOF, and the
// client's recv() of the server's FIN is the moment it enters TIME_WAIT.
ExhaustionOutcome ExhaustTowards(VethLab& lab, const Endpoint& to, int listener) {
  ExhaustionOutcome out;
  for (int i = 0; i < kExhaustionBudget; ++i) {
    UniqueFd client;
    {
      NamespaceGuard inside(lab.client());
      client = TcpSocket(to.family());
      SetIoTimeout(client.get(), 5000);
      out.last_errno = ConnectErrno(client.get(), to);
      if (out.last_errno != 0) break;
    }
    UniqueFd served(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
    if (!served.valid()) ThrowErrno("accept on the remote");
    ::shutdown(client.get(), SHUT_WR);
    char byte;
    if (::recv(served.get(), &byte, 1, 0) != 0) throw LabError("server expected EOF");
    served.reset();
    if (::recv(client.get(), &byte, 1, 0) != 0) throw LabError("client expected the server's FIN");
    ++out.connected;
  }
  return out;
}

TEST_P(PortSelection, S2d_Exhaustion) {
  ScenarioRecord& record = Record("S2d");
  TCPREPRO_STORY(record, {
    VethLab lab(family(), record.dir());
    SysctlGuard range(lab.client(), "net.ipv4.ip_local_port_range", kExhaustionRange);
    // Never reuse TIME_WAIT for connect(): the count must not depend on timing.
    SysctlGuard reuse(lab.client(), "net.ipv4.tcp_tw_reuse", "0");
    record.NoteSysctl(range);
    record.NoteSysctl(reuse);
    UniqueFd server_a = ListenIn(lab.remote(), lab.Remote(5001));
    UniqueFd server_b = ListenIn(lab.remote(), lab.Remote(5002));

    const ExhaustionOutcome a = ExhaustTowards(lab, lab.Remote(5001), server_a.get());
    const ExhaustionOutcome b = ExhaustTowards(lab, lab.Remote(5002), server_b.get());
    int bind0_errno, time_wait;
    {
      NamespaceGuard inside(lab.client());
      time_wait = CountTimeWait(family());
      UniqueFd fd = TcpSocket(family());
      bind0_errno = BindErrno(fd.get(), lab.Client(0));
    }
    lab.capture().Stop();
    const auto [low, high] = ParsePortRange(range.effective());
    record.Observe("range_size", high - low + 1);
    record.Observe("connects_to_a", a.connected);
    record.Observe("errno_a_when_exhausted", ErrnoName(a.last_errno));
    record.Observe("connects_to_b", b.connected);
    record.Observe("errno_b_when_exhausted", ErrnoName(b.last_errno));
    record.Observe("client_time_wait_sockets", time_wait);
    record.Observe("bind0_errno_when_exhausted", ErrnoName(bind0_errno));
    record.AddCapture(lab.capture(), "the client's connects and active closes to A, then to B");
  });
}

// S2d with IP_BIND_ADDRESS_NO_PORT: bind(address, 0) defers the port to
// connect(), which shares it across destinations. A 2-port range then serves
// four destinations; without the option the third bind() already fails.
TEST_P(PortSelection, S2d_BindAddressNoPort) {
  ScenarioRecord& record = Record("S2d-bind-no-port");
  TCPREPRO_STORY(record, {
    VethLab lab(family(), record.dir());
    SysctlGuard range(lab.client(), "net.ipv4.ip_local_port_range", "40000 40001");
    record.NoteSysctl(range);
    std::vector<UniqueFd> servers;
    for (uint16_t port = 5001; port <= 5004; ++port) servers.push_back(ListenIn(lab.remote(), lab.Remote(port)));

    NamespaceGuard inside(lab.client());
    RequireSocketOption(family(), kIpBindAddressNoPort, 1, "IP_BIND_ADDRESS_NO_PORT is not supported");
    std::vector<UniqueFd> held;
    std::vector<std::string> plain_bind_errnos;
    for (int i = 0; i < 3; ++i) {
      UniqueFd fd = TcpSocket(family());
      plain_bind_errnos.push_back(ErrnoName(BindErrno(fd.get(), lab.Client(0))));
      held.push_back(std::move(fd));
    }
    held.clear();
    std::vector<std::string> no_port_errnos;
    std::vector<uint16_t> no_port_ports;
    for (uint16_t port = 5001; port <= 5004; ++port) {
      UniqueFd fd = TcpSocket(family());
      SetIntOption(fd.get(), SOL_IP, kIpBindAddressNoPort, 1, "IP_BIND_ADDRESS_NO_PORT");
      const int bind_errno = BindErrno(fd.get(), lab.Client(0));
      const int connect_errno = bind_errno ? bind_errno : ConnectErrno(fd.get(), lab.Remote(port));
      no_port_errnos.push_back(ErrnoName(connect_errno));
      no_port_ports.push_back(LocalEndpoint(fd.get()).port);
      held.push_back(std::move(fd));
    }
    record.Observe("plain_bind0_errnos", plain_bind_errnos);
    record.Observe("no_port_connect_errnos", no_port_errnos);
    record.Observe("no_port_connected",
                   std::count(no_port_errnos.begin(), no_port_errnos.end(), std::string("0")));
    record.Observe("no_port_distinct_ports", std::set<uint16_t>(no_port_ports.begin(), no_port_ports.end()).size());
    lab.capture().Stop();
    record.AddCapture(lab.capture(), "four connections from a 2-port range to four destinations");
  });
}

// ---------------------------------------------------------------------------
// S2e (seed 001): a service port inside the ephemeral range is taken by an
// outgoing connection before the service starts. The client holds connections
// to one remote destination until the service port is among them (or the
// budget, the whole range, is used); then the service starts on that port.
constexpr uint16_t kServicePort = 40008;
constexpr const char* kServiceRange = "40000 40063";
constexpr int kOutgoingBudget = 64;

struct StolenPortOptions {
  std::string range = kServiceRange;
  std::string reserved_ports;                  // ip_local_reserved_ports, if any
  std::optional<std::pair<int, int>> socket_range;  // IP_LOCAL_PORT_RANGE on each client socket
};

void RunStolenPortStory(ScenarioRecord& record, Family family, const StolenPortOptions& options) {
  VethLab lab(family, record.dir());
  SysctlGuard range(lab.client(), "net.ipv4.ip_local_port_range", options.range);
  record.NoteSysctl(range);
  std::optional<SysctlGuard> reserved;
  if (!options.reserved_ports.empty()) {
    reserved.emplace(lab.client(), "net.ipv4.ip_local_reserved_ports", options.reserved_ports);
    record.NoteSysctl(*reserved);
  }
  UniqueFd remote = ListenIn(lab.remote(), lab.Remote(5001));

  NamespaceGuard inside(lab.client());
  if (options.socket_range) {
    const auto [lo, hi] = *options.socket_range;
    RequireSocketOption(family, kIpLocalPortRange, (hi << 16) | lo,
                        "IP_LOCAL_PORT_RANGE is not supported (added in v6.3, 91d0b78c5177)");
    record.Observe("socket_port_range", {lo, hi});
  }
  // The outgoing connections ("process B" of the seed), held ESTABLISHED.
  std::vector<UniqueFd> outgoing;
  std::vector<uint16_t> ports;
  int last_errno = 0;
  int thief = -1;
  while (static_cast<int>(ports.size()) < kOutgoingBudget && thief < 0) {
    UniqueFd fd = TcpSocket(family);
    if (options.socket_range) {
      const auto [lo, hi] = *options.socket_range;
      SetIntOption(fd.get(), SOL_IP, kIpLocalPortRange, (hi << 16) | lo, "IP_LOCAL_PORT_RANGE");
    }
    last_errno = ConnectErrno(fd.get(), lab.Remote(5001));
    if (last_errno != 0) break;
    ports.push_back(LocalEndpoint(fd.get()).port);
    if (ports.back() == kServicePort) thief = static_cast<int>(outgoing.size());
    outgoing.push_back(std::move(fd));
  }
  // The service ("process C") starts on its fixed port, on the wildcard address.
  auto service_bind = [&](bool reuseaddr) {
    UniqueFd service = TcpSocket(family);
    if (reuseaddr) SetReuseAddr(service.get());
    const int err = BindErrno(service.get(), lab.Wildcard(kServicePort));
    return ErrnoName(err ? err : ListenErrno(service.get()));
  };
  record.Observe("service_port", kServicePort);
  record.Observe("outgoing_connected", ports.size());
  record.Observe("outgoing_last_errno", ErrnoName(last_errno));
  record.Observe("outgoing_ports_head", Head(ports, 16));
  // The parity of the first ports shows the scan order (even first, or step 1).
  record.Observe("outgoing_odd_share_first_16", Share(Head(ports, 16), IsOdd));
  record.Observe("service_port_taken", thief >= 0);
  record.Observe("thief_state", thief >= 0 ? TcpState(outgoing[thief].get()) : "none");
  record.Observe("service_bind_errno", service_bind(false));
  record.Observe("service_bind_errno_reuseaddr", service_bind(true));
  if (thief >= 0) {
    // The outgoing connection ends (abortively: no TIME_WAIT); the port is free again.
    SetAbortiveClose(outgoing[thief].get());
    outgoing[thief].reset();
    record.Observe("service_bind_errno_after_thief_closed", service_bind(true));
  }
  lab.capture().Stop();
  record.AddCapture(lab.capture(), "the outgoing connections from the client's namespace");
}

TEST_P(PortSelection, S2e_StolenServicePort) {
  ScenarioRecord& record = Record("S2e");
  TCPREPRO_STORY(record, RunStolenPortStory(record, family(), {}));
}

TEST_P(PortSelection, S2e_RangeSplit) {
  ScenarioRecord& record = Record("S2e-range-split");
  TCPREPRO_STORY(record, RunStolenPortStory(record, family(), {"40016 40063", "", std::nullopt}));
}

TEST_P(PortSelection, S2e_ReservedPort) {
  ScenarioRecord& record = Record("S2e-reserved-port");
  TCPREPRO_STORY(record, RunStolenPortStory(record, family(), {kServiceRange, std::to_string(kServicePort), std::nullopt}));
}

// The per-socket range keeps the client's sockets above the service port while
// the namespace's range still contains it. Its low end is even: with the
// parity split (6.3-6.7) only even ports come first; from 6.8 it is step 1.
TEST_P(PortSelection, S2e_SocketPortRange) {
  ScenarioRecord& record = Record("S2e-socket-range");
  TCPREPRO_STORY(record, RunStolenPortStory(record, family(), {kServiceRange, "", std::make_pair(40016, 40063)}));
}

INSTANTIATE_TEST_SUITE_P(S2, PortSelection,
                         ::testing::Values(Variant{Family::kIpv4}, Variant{Family::kIpv6}),
                         [](const auto& info) { return VariantName(info.param); });

}  // namespace
}  // namespace tcprepro
