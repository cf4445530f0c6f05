// S2. Ephemeral port selection: the sequences connect() picks, on loopback.
//
// Claim: Linux 2.6 started at a random port; 3.10 walks ports sequentially
// from a hint, so a retrying client scans ports in order.
//
// The stories record the raw source ports in connect order, taken from the
// captured SYNs; the harness derives deltas, parity shares and wraps and fits
// the historical algorithms to them (harness/port_models). Expectations per
// kernel live in harness/scenarios/port_selection.toml.
//
// table_perturb (5.12+) is one table for the whole host, indexed by a hash of
// (saddr, daddr, dport) that ignores the namespace: stories that may run in
// parallel therefore use destination ports of their own, so that no two
// sequences share a table slot.
#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "cases/port_sampling.h"
#include "cases/port_selection.h"
#include "cases/story.h"

namespace tcprepro {
namespace {

constexpr const char* kDefaultRange = "32768 60999";
// 256 ports: a few hundred connects wrap around it several times.
constexpr const char* kNarrowRange = "40000 40255";

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

class PortSelectionOnLoopback : public LabStory {
 protected:
  // Connects `schedule.size()` times from the lab's namespace, the i-th time to
  // destination schedule[i]; each destination is a port on loopback, listening
  // when `listen` is set, closed otherwise. Records the sequence from the SYNs.
  void RunSequenceStory(const std::string& range, const std::vector<uint16_t>& dports,
                        const std::vector<int>& schedule, bool listen) {
    TwoHostLab& lab = NewLab();
    TCPREPRO_STORY(lab, {
      const std::string effective_range = lab.Sysctl(lab.client(), "net.ipv4.ip_local_port_range", range);
      std::vector<UniqueFd> listeners;
      for (uint16_t port : dports) {
        if (listen) listeners.push_back(lab.Listen(port));
      }
      std::vector<ConnectSample> samples;
      {
        NamespaceGuard inside(lab.client());
        for (int destination : schedule) {
          const int listener = listen ? listeners[destination].get() : -1;
          samples.push_back(SampleConnect(lab.ServerAt(dports[destination]), listener));
        }
      }
      lab.StopCaptures("every TCP segment in the client's namespace; the SYNs are the sequence");

      const SynSequence syns = SynsTo(lab.ClientSegments(), dports);
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
      const auto [low, high] = ParsePortRange(effective_range);
      lab.Observe("port_range", {low, high});
      lab.Observe("destinations", dports.size());
      lab.Observe("sequence", syns.ports);
      if (dports.size() > 1) lab.Observe("destination_of", syns.destination_of);
      lab.Observe("connect_errnos", errnos);
      lab.Observe("getsockname_reported", reported);
      lab.Observe("getsockname_disagrees_with_syn", disagreements);
    });
  }
};

// S2a: a reconnecting client (as zmq's): connect() to a closed port, again
// and again, with the default range. The port is above the range, so no
// source port can equal it (no self-connect here).
TEST_P(PortSelectionOnLoopback, S2a) { RunSequenceStory(kDefaultRange, {61001}, std::vector<int>(200, 0), false); }

// S2b: successful connects to one listening destination, in a 256-port range
// so that the sequence wraps around.
TEST_P(PortSelectionOnLoopback, S2b_one) { RunSequenceStory(kNarrowRange, {47101}, std::vector<int>(300, 0), true); }

// S2b: one destination alone (100 connects), then four destinations in turn
// (100 rounds). A shared hint (<5.12) makes a destination's step grow with the
// connects to the others in between; a per-destination table does not.
TEST_P(PortSelectionOnLoopback, S2b_interleaved) {
  std::vector<int> schedule(100, 0);
  for (int round = 0; round < 100; ++round) {
    for (int destination = 0; destination < 4; ++destination) schedule.push_back(destination);
  }
  RunSequenceStory(kNarrowRange, {47201, 47202, 47203, 47204}, schedule, true);
}

// S2c: which parity connect() prefers, which bind(0) prefers, and what
// IP_BIND_ADDRESS_NO_PORT (bind an address, let connect() choose) gets. The
// ports are recorded as they are; the harness computes the parity shares.
TEST_P(PortSelectionOnLoopback, S2c) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, {
    constexpr size_t kSamples = 100;
    const Endpoint closed = lab.ServerAt(61011);
    std::vector<uint16_t> bind_ports;
    bool has_no_port = false;
    lab.Sysctl(lab.client(), "net.ipv4.ip_local_port_range", kDefaultRange);
    {
      NamespaceGuard inside(lab.client());
      for (size_t i = 0; i < kSamples; ++i) SampleConnect(closed);
      for (size_t i = 0; i < kSamples; ++i) {
        UniqueFd fd = TcpSocket(family());
        ASSERT_EQ(BindErrno(fd.get(), lab.ClientAt(0)), 0);
        bind_ports.push_back(LocalEndpoint(fd.get()).port);
      }
      UniqueFd probe = TcpSocket(family());
      has_no_port = SetOptionErrno(probe.get(), SOL_IP, kIpBindAddressNoPort, 1) == 0;
      for (size_t i = 0; has_no_port && i < kSamples; ++i) {
        UniqueFd fd = TcpSocket(family());
        SetIntOption(fd.get(), SOL_IP, kIpBindAddressNoPort, 1, "IP_BIND_ADDRESS_NO_PORT");
        ASSERT_EQ(BindErrno(fd.get(), lab.ClientAt(0)), 0);
        ConnectErrno(fd.get(), closed);
      }
    }
    // An odd low end: "ports of @low parity" first means odd ports now.
    lab.Sysctl(lab.client(), "net.ipv4.ip_local_port_range", "32769 61000");
    {
      NamespaceGuard inside(lab.client());
      for (size_t i = 0; i < kSamples; ++i) SampleConnect(closed);
    }
    lab.StopCaptures("connects to a closed port: plain, after bind with IP_BIND_ADDRESS_NO_PORT, and with an odd "
                     "low end");
    // Ground truth from the wire: the SYNs, in connect order, in two or three runs.
    const std::vector<uint16_t> syns = SynsTo(lab.ClientSegments(), {closed.port}).ports;
    const size_t runs = has_no_port ? 3 : 2;
    ASSERT_EQ(syns.size(), runs * kSamples) << "captured SYNs vs connect() calls";
    auto run = [&](size_t index) {
      return std::vector<uint16_t>(syns.begin() + index * kSamples, syns.begin() + (index + 1) * kSamples);
    };
    lab.Observe("samples_each", kSamples);
    lab.Observe("connect_ports", run(0));
    lab.Observe("bind0_ports", bind_ports);
    if (has_no_port) lab.Observe("bind_no_port_connect_ports", run(1));
    lab.Observe("connect_ports_with_odd_low", run(runs - 1));
  });
}

INSTANTIATE_TEST_SUITE_P(S2, PortSelectionOnLoopback, VariantsOver(Link::kLoopback), VariantParamName);

}  // namespace
}  // namespace tcprepro
