// S2. Ephemeral port selection: ports running out, and a service's port taken,
// between a client and a remote server on a veth.
//
// Claim: an outgoing connection's ephemeral port can take the port a service
// later wants to listen on; splitting ip_local_port_range away from service
// ports, or ip_local_reserved_ports, prevents it.
//
// The client's namespace is where the ports are picked (and where the
// service of S2e lives); the server's namespace holds the destinations.
#include <algorithm>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "cases/port_selection.h"
#include "cases/story.h"
#include "netns/tcp_table.h"

namespace tcprepro {
namespace {

class PortSelectionOverVeth : public LabStory {};

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

// Connects to `to` until connect() fails, leaving each connection in TIME_WAIT
// on the client: the client half-closes, the server closes on EOF, and the
// client's recv() of the server's FIN is the moment it enters TIME_WAIT.
ExhaustionOutcome ExhaustTowards(TwoHostLab& lab, const Endpoint& to, int listener) {
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
    UniqueFd served = Accept(listener);
    ::shutdown(client.get(), SHUT_WR);
    char byte;
    if (::recv(served.get(), &byte, 1, 0) != 0) throw LabError("server expected EOF");
    served.reset();
    if (::recv(client.get(), &byte, 1, 0) != 0) throw LabError("client expected the server's FIN");
    ++out.connected;
  }
  return out;
}

TEST_P(PortSelectionOverVeth, S2d) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, {
    const auto [low, high] = ParsePortRange(lab.Sysctl(lab.client(), "net.ipv4.ip_local_port_range", kExhaustionRange));
    // Never reuse TIME_WAIT for connect(): the count must not depend on timing.
    lab.Sysctl(lab.client(), "net.ipv4.tcp_tw_reuse", "0");
    UniqueFd server_a = lab.Listen(5001), server_b = lab.Listen(5002);

    const ExhaustionOutcome a = ExhaustTowards(lab, lab.ServerAt(5001), server_a.get());
    const ExhaustionOutcome b = ExhaustTowards(lab, lab.ServerAt(5002), server_b.get());
    const int time_wait = CountInState(lab.client(), family(), "TIME_WAIT");
    int bind0_errno;
    {
      NamespaceGuard inside(lab.client());
      UniqueFd fd = TcpSocket(family());
      bind0_errno = BindErrno(fd.get(), lab.ClientAt(0));
    }
    lab.StopCaptures("the client's connects and active closes to A, then to B");
    lab.Observe("range_size", high - low + 1);
    lab.Observe("connects_to_a", a.connected);
    lab.Observe("errno_a_when_exhausted", ErrnoName(a.last_errno));
    lab.Observe("connects_to_b", b.connected);
    lab.Observe("errno_b_when_exhausted", ErrnoName(b.last_errno));
    lab.Observe("client_time_wait_sockets", time_wait);
    lab.Observe("bind0_errno_when_exhausted", ErrnoName(bind0_errno));
  });
}

// S2d with IP_BIND_ADDRESS_NO_PORT: bind(address, 0) defers the port to
// connect(), which shares it across destinations. A 2-port range then serves
// four destinations; without the option the third bind() already fails.
TEST_P(PortSelectionOverVeth, S2d_bind_no_port) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, {
    lab.Sysctl(lab.client(), "net.ipv4.ip_local_port_range", "40000 40001");
    std::vector<UniqueFd> servers;
    for (uint16_t port = 5001; port <= 5004; ++port) servers.push_back(lab.Listen(port));

    NamespaceGuard inside(lab.client());
    RequireSocketOption(family(), kIpBindAddressNoPort, 1, "IP_BIND_ADDRESS_NO_PORT is not supported");
    std::vector<UniqueFd> held;
    std::vector<std::string> plain_bind_errnos;
    for (int i = 0; i < 3; ++i) {
      UniqueFd fd = TcpSocket(family());
      plain_bind_errnos.push_back(ErrnoName(BindErrno(fd.get(), lab.ClientAt(0))));
      held.push_back(std::move(fd));
    }
    held.clear();
    std::vector<std::string> no_port_errnos;
    std::vector<uint16_t> no_port_ports;
    for (uint16_t port = 5001; port <= 5004; ++port) {
      UniqueFd fd = TcpSocket(family());
      SetIntOption(fd.get(), SOL_IP, kIpBindAddressNoPort, 1, "IP_BIND_ADDRESS_NO_PORT");
      const int bind_errno = BindErrno(fd.get(), lab.ClientAt(0));
      const int connect_errno = bind_errno ? bind_errno : ConnectErrno(fd.get(), lab.ServerAt(port));
      no_port_errnos.push_back(ErrnoName(connect_errno));
      no_port_ports.push_back(LocalEndpoint(fd.get()).port);
      held.push_back(std::move(fd));
    }
    lab.Observe("plain_bind0_errnos", plain_bind_errnos);
    lab.Observe("no_port_connect_errnos", no_port_errnos);
    lab.Observe("no_port_connected", std::count(no_port_errnos.begin(), no_port_errnos.end(), std::string("0")));
    lab.Observe("no_port_distinct_ports", std::set<uint16_t>(no_port_ports.begin(), no_port_ports.end()).size());
    lab.StopCaptures("four connections from a 2-port range to four destinations");
  });
}

// ---------------------------------------------------------------------------
// S2e: a service port inside the ephemeral range is taken by an outgoing
// connection before the service starts. The client holds connections to one
// remote destination until the service port is among them (or the budget, the
// whole range, is used); then the service starts on that port.
constexpr uint16_t kServicePort = 40008;
constexpr const char* kServiceRange = "40000 40063";
constexpr int kOutgoingBudget = 64;

struct StolenPortOptions {
  std::string range = kServiceRange;
  std::string reserved_ports;                       // ip_local_reserved_ports, if any
  std::optional<std::pair<int, int>> socket_range;  // IP_LOCAL_PORT_RANGE on each client socket
};

void RunStolenPortStory(TwoHostLab& lab, const StolenPortOptions& options) {
  const Family family = lab.family();
  lab.Sysctl(lab.client(), "net.ipv4.ip_local_port_range", options.range);
  if (!options.reserved_ports.empty()) {
    lab.Sysctl(lab.client(), "net.ipv4.ip_local_reserved_ports", options.reserved_ports);
  }
  UniqueFd remote = lab.Listen(5001);

  NamespaceGuard inside(lab.client());
  std::optional<int> packed_range;  // IP_LOCAL_PORT_RANGE's value: high << 16 | low
  if (options.socket_range) {
    const auto [lo, hi] = *options.socket_range;
    packed_range = (hi << 16) | lo;
    RequireSocketOption(family, kIpLocalPortRange, *packed_range,
                        "IP_LOCAL_PORT_RANGE is not supported (added in v6.3, 91d0b78c5177)");
    lab.Observe("socket_port_range", {lo, hi});
  }
  // The outgoing connections (another process on the host), held ESTABLISHED.
  std::vector<UniqueFd> outgoing;
  std::vector<uint16_t> ports;
  int last_errno = 0;
  int thief = -1;
  while (static_cast<int>(ports.size()) < kOutgoingBudget && thief < 0) {
    UniqueFd fd = TcpSocket(family);
    if (packed_range) SetIntOption(fd.get(), SOL_IP, kIpLocalPortRange, *packed_range, "IP_LOCAL_PORT_RANGE");
    last_errno = ConnectErrno(fd.get(), lab.ServerAt(5001));
    if (last_errno != 0) break;
    ports.push_back(LocalEndpoint(fd.get()).port);
    if (ports.back() == kServicePort) thief = static_cast<int>(outgoing.size());
    outgoing.push_back(std::move(fd));
  }
  // The service starts on its fixed port, on the wildcard address.
  auto service_bind = [&](bool reuseaddr) {
    UniqueFd service = TcpSocket(family);
    if (reuseaddr) SetReuseAddr(service.get());
    const int err = BindErrno(service.get(), lab.Wildcard(kServicePort));
    return ErrnoName(err ? err : ListenErrno(service.get()));
  };
  lab.Observe("service_port", kServicePort);
  lab.Observe("outgoing_connected", ports.size());
  lab.Observe("outgoing_last_errno", ErrnoName(last_errno));
  // The first ports as they came; their parity (the harness's share) shows the scan order.
  lab.Observe("outgoing_ports_head", std::vector<uint16_t>(ports.begin(), ports.begin() + std::min<size_t>(16, ports.size())));
  lab.Observe("service_port_taken", thief >= 0);
  lab.Observe("thief_state", thief >= 0 ? TcpState(outgoing[thief].get()) : "none");
  lab.Observe("service_bind_errno", service_bind(false));
  lab.Observe("service_bind_errno_reuseaddr", service_bind(true));
  if (thief >= 0) {
    // The outgoing connection ends (abortively: no TIME_WAIT); the port is free again.
    SetAbortiveClose(outgoing[thief].get());
    outgoing[thief].reset();
    lab.Observe("service_bind_errno_after_thief_closed", service_bind(true));
  }
  lab.StopCaptures("the outgoing connections from the client's namespace");
}

TEST_P(PortSelectionOverVeth, S2e) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, RunStolenPortStory(lab, {}));
}

TEST_P(PortSelectionOverVeth, S2e_range_split) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, RunStolenPortStory(lab, {"40016 40063", "", std::nullopt}));
}

TEST_P(PortSelectionOverVeth, S2e_reserved_port) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, RunStolenPortStory(lab, {kServiceRange, std::to_string(kServicePort), std::nullopt}));
}

// The per-socket range keeps the client's sockets above the service port while
// the namespace's range still contains it. Its low end is even: with the
// parity split (6.3-6.7) only even ports come first; from 6.8 it is step 1.
TEST_P(PortSelectionOverVeth, S2e_socket_range) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, RunStolenPortStory(lab, {kServiceRange, "", std::make_pair(40016, 40063)}));
}

INSTANTIATE_TEST_SUITE_P(S2, PortSelectionOverVeth, VariantsOver(Link::kVeth), VariantParamName);

}  // namespace
}  // namespace tcprepro
