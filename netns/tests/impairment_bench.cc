// Setup cost and delay error of each impairment backend: a benchmark, not a
// test (not registered with CTest). Run as root:
//
//   impairment_bench [--n N] [--backend nfqueue|netem]    (default: both, N = 20)
//
// Prints per backend: the wall time to install and remove one rule (egress
// and ingress, median and p90 over N), and the error of a 10 ms and a 50 ms
// ingress delay on SYNs over N connects, measured from the server's capture
// (SYN in to SYN-ACK out, minus the delay). A backend this kernel lacks prints
// its reason and is skipped.
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "netns/capture.h"
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

struct Summary {
  double median = 0, p90 = 0, max = 0, mean = 0;
};

Summary Summarise(std::vector<double> values) {
  Summary s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  s.median = values[values.size() / 2];
  s.p90 = values[std::min(values.size() - 1, values.size() * 9 / 10)];
  s.max = values.back();
  for (double v : values) s.mean += v / static_cast<double>(values.size());
  return s;
}

struct Lab {
  NetNamespace client = NetNamespace::Create("client");
  NetNamespace server = NetNamespace::Create("server");
  VethPair veth{VethEnd{&client, "c0", {"10.7.0.1/24"}}, VethEnd{&server, "s0", {"10.7.0.2/24"}}};
};

// Milliseconds to install and remove one rule, n times.
std::vector<double> SetupCost(ImpairmentBackend backend, Direction direction, int n) {
  Lab lab;
  const ImpairmentRule rule = {"s0", direction, {Family::kIpv4, std::nullopt, kPort, kTcpSyn, kTcpSyn, 0},
                               ImpairAction::Delay(10ms)};
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    const auto start = std::chrono::steady_clock::now();
    Impair(lab.server, rule, backend).reset();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return ms;
}

// Delay error in milliseconds, one per connect.
std::vector<double> DelayError(ImpairmentBackend backend, std::chrono::milliseconds delay, int n) {
  Lab lab;
  const auto file = std::filesystem::temp_directory_path() / ("tcprepro-bench-" + std::to_string(::getpid()) + ".pcap");
  PacketCapture capture(lab.server, file);
  UniqueFd listener;
  {
    NamespaceGuard inside(lab.server);
    listener = TcpSocket(Family::kIpv4);
    SetReuseAddr(listener.get());
    if (BindErrno(listener.get(), {"10.7.0.2", kPort}) != 0 || ListenErrno(listener.get()) != 0) {
      throw LabError("listen on 10.7.0.2:8000");
    }
  }
  auto rule = Impair(lab.server,
                     {"s0", Direction::kIngress, {Family::kIpv4, std::nullopt, kPort, kTcpSyn | kTcpAck, kTcpSyn, 0},
                      ImpairAction::Delay(delay)},
                     backend);
  for (int i = 0; i < n; ++i) {
    NamespaceGuard inside(lab.client);
    UniqueFd fd = TcpSocket(Family::kIpv4);
    SetIoTimeout(fd.get(), 10000);
    if (ConnectErrno(fd.get(), {"10.7.0.2", kPort}) != 0) throw LabError("connect");
    UniqueFd(::accept(listener.get(), nullptr, nullptr));
  }
  rule.reset();
  capture.Stop();
  std::map<uint16_t, double> syn_at;
  std::vector<double> errors;
  for (const auto& seg : ReadTcpSegments(file)) {
    if (seg.syn() && !seg.has_ack()) syn_at.emplace(seg.sport, seg.time);
    if (seg.syn() && seg.has_ack() && syn_at.count(seg.dport)) {
      errors.push_back((seg.time - syn_at[seg.dport]) * 1e3 - static_cast<double>(delay.count()));
    }
  }
  std::filesystem::remove(file);
  return errors;
}

void Print(const std::string& what, const std::vector<double>& values) {
  const Summary s = Summarise(values);
  std::printf("  %-34s n=%-3zu median %8.3f  p90 %8.3f  max %8.3f  mean %8.3f ms\n", what.c_str(), values.size(),
              s.median, s.p90, s.max, s.mean);
}

void Bench(ImpairmentBackend backend, int n) {
  const std::string name = BackendName(backend);
  try {
    std::printf("%s\n", name.c_str());
    Print("install+remove, egress", SetupCost(backend, Direction::kEgress, n));
    Print("install+remove, ingress", SetupCost(backend, Direction::kIngress, n));
    for (auto delay : {10ms, 50ms}) {
      Print("delay error at " + std::to_string(delay.count()) + " ms (ingress SYN)", DelayError(backend, delay, n));
    }
  } catch (const Unsupported& unsupported) {
    std::printf("  skipped: %s\n", unsupported.what());
  }
}

}  // namespace
}  // namespace tcprepro

int main(int argc, char** argv) {
  using tcprepro::ImpairmentBackend;
  int n = 20;
  std::vector<ImpairmentBackend> backends = {ImpairmentBackend::kNfqueue, ImpairmentBackend::kNetem};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--n" && i + 1 < argc) {
      n = std::max(1, std::atoi(argv[++i]));
    } else if (arg == "--backend" && i + 1 < argc) {
      const std::string name = argv[++i];
      if (name != "nfqueue" && name != "netem") {
        std::fprintf(stderr, "--backend: nfqueue or netem, not %s\n", name.c_str());
        return 2;
      }
      backends = {name == "netem" ? ImpairmentBackend::kNetem : ImpairmentBackend::kNfqueue};
    } else {
      std::fprintf(stderr, "usage: %s [--n N] [--backend nfqueue|netem]\n", argv[0]);
      return 2;
    }
  }
  std::printf("impairment_bench: n=%d\n", n);
  try {
    for (auto backend : backends) tcprepro::Bench(backend, n);
  } catch (const tcprepro::LabError& error) {
    std::fprintf(stderr, "impairment_bench: %s\n", error.what());
    return 1;
  }
  return 0;
}
