// Sampling-rate benchmark for the S2 sequence scenarios (not a test).
//
// Runs the samplers the S2 case program uses (cases/port_sampling.h) in a
// fresh namespace on loopback and prints connects per second:
//
//   refused   connect() to a closed port (S2a): SYN, RST, ECONNREFUSED
//   accepted  connect() to a listener, accept(), reset both ends (S2b)
//
// each with 1 and 2 threads (one destination port per thread, so the threads
// share no table_perturb slot), with and without the in-process capture the
// case program runs, plus a socket()+close() baseline. Usage, as root:
//
//   port_sampling_bench [seconds-per-row (default 1)]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "cases/port_sampling.h"
#include "netns/capture.h"
#include "netns/error.h"
#include "netns/namespace.h"
#include "netns/sysctl.h"

namespace tcprepro {
namespace {

using Clock = std::chrono::steady_clock;

enum class Mode { kSocketOnly, kRefused, kAccepted };

const char* ModeName(Mode mode) {
  switch (mode) {
    case Mode::kSocketOnly: return "socket+close";
    case Mode::kRefused: return "refused";
    case Mode::kAccepted: return "accepted";
  }
  return "?";
}

// One thread's loop: as many samples as fit in `seconds`, checking the clock every 256.
uint64_t SampleFor(const NetNamespace& ns, Mode mode, Family family, uint16_t dport, double seconds) {
  NamespaceGuard inside(ns);
  const Endpoint to{LoopbackAddress(family), dport};
  UniqueFd listener;
  if (mode == Mode::kAccepted) listener = Listen(to);
  const auto deadline = Clock::now() + std::chrono::duration<double>(seconds);
  uint64_t n = 0;
  while (true) {
    for (int i = 0; i < 256; ++i, ++n) {
      if (mode == Mode::kSocketOnly) {
        TcpSocket(family);
        continue;
      }
      const ConnectSample sample = SampleConnect(to, listener.get());
      const int expected = mode == Mode::kRefused ? ECONNREFUSED : 0;
      if (sample.err != expected) throw LabError("unexpected connect errno " + ErrnoName(sample.err));
    }
    if (Clock::now() >= deadline) return n;
  }
}

void Row(const NetNamespace& ns, Mode mode, Family family, int threads, bool capture, double seconds) {
  std::unique_ptr<PacketCapture> pcap;
  const auto file = std::filesystem::temp_directory_path() / ("port_sampling_bench_" + std::to_string(::getpid()) + ".pcap");
  if (capture) pcap = std::make_unique<PacketCapture>(ns, file);
  std::vector<std::thread> workers;
  std::vector<uint64_t> counts(threads);
  std::vector<std::exception_ptr> errors(threads);
  const auto start = Clock::now();
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      try {
        counts[t] = SampleFor(ns, mode, family, static_cast<uint16_t>(61100 + t), seconds);
      } catch (...) {
        errors[t] = std::current_exception();
      }
    });
  }
  for (auto& w : workers) w.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  uint64_t total = 0;
  for (uint64_t c : counts) total += c;
  uint64_t captured = 0;
  if (pcap) {
    pcap->Stop();
    captured = pcap->packets();
    std::filesystem::remove(file);
  }
  std::printf("%-13s %-5s %7d %8s %10llu %8.2f %12.0f", ModeName(mode), FamilyName(family).c_str(), threads,
              capture ? "yes" : "no", static_cast<unsigned long long>(total), elapsed, total / elapsed);
  if (capture) std::printf("   (%llu packets captured)", static_cast<unsigned long long>(captured));
  std::printf("\n");
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  NetNamespace ns = NetNamespace::Create("bench");
  // The S2a range: the benchmark samples what the scenario samples.
  SysctlGuard range(ns, "net.ipv4.ip_local_port_range", "32768 60999");
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::printf("%-13s %-5s %7s %8s %10s %8s %12s\n", "mode", "af", "threads", "capture", "connects", "seconds",
              "connects/s");
  for (Family family : {Family::kIpv4, Family::kIpv6}) {
    for (int threads : {1, cores}) Row(ns, Mode::kSocketOnly, family, threads, false, seconds);
    for (Mode mode : {Mode::kRefused, Mode::kAccepted}) {
      for (int threads : {1, cores}) {
        Row(ns, mode, family, threads, false, seconds);
        if (threads == 1) Row(ns, mode, family, threads, true, seconds);
      }
    }
  }
  return 0;
}

}  // namespace
}  // namespace tcprepro

int main(int argc, char** argv) {
  try {
    return tcprepro::Main(argc, argv);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "port_sampling_bench: %s\n", error.what());
    return 1;
  }
}
