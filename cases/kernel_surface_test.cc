// S5. Kernel surface (SCENARIOS.md §S5).
//
// For each sysctl the scenarios depend on: does this kernel have it, what is
// its default in a fresh namespace, and is it per network namespace?
//
// "Per namespace" is tested, not assumed: a write in one lab namespace must be
// seen neither in a second lab namespace that already existed nor in a third
// one made after the write. The host's own namespace is never written
// (SysctlGuard refuses it); a knob whose table the kernel registers for the
// initial namespace only is not even visible in a lab namespace, so it reads
// as absent here. The write is undone when the test ends.
//
// No packets, no variants: one test per sysctl, so that the report gets one
// row per knob and a kernel that differs shows in that row.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cases/case_support.h"
#include "netns/configuration.h"
#include "netns/namespace.h"
#include "netns/record.h"
#include "netns/sysctl.h"

namespace tcprepro {
namespace {

struct Knob {
  std::string key;
  // Values to write, the first one that differs from the default is used:
  // each is valid on every kernel that has the knob.
  std::vector<std::string> probes;
};

class KernelSurface : public ::testing::Test {
 protected:
  void Probe(const std::string& scenario, const Knob& knob) {
    record_ = std::make_unique<ScenarioRecord>(EvidenceDirForCurrentTest(), scenario,
                                               nlohmann::json{{"sysctl", knob.key}});
    ScenarioRecord& record = *record_;
    // The subject is the kernel's defaults: a proposed configuration is not applied here.
    const ConfigurationSuspended defaults_only;
    TCPREPRO_STORY(record, {
      // Two namespaces before the write, one after it.
      const NetNamespace written = NetNamespace::Create("written");
      const NetNamespace bystander = NetNamespace::Create("bystander");
      const std::optional<std::string> value = ReadSysctl(written, knob.key);
      record.Observe("sysctl", knob.key);
      record.Observe("exists", value.has_value());
      record.Observe("default", value ? nlohmann::json(*value) : nlohmann::json(nullptr));
      if (!value) {
        record.Observe("per_netns", nullptr);
        return;
      }
      std::string probe = knob.probes.front();
      for (const auto& candidate : knob.probes) {
        if (candidate != *value) {
          probe = candidate;
          break;
        }
      }
      ASSERT_NE(probe, *value) << "no probe value differs from the default of " << knob.key;

      const std::optional<std::string> bystander_before = ReadSysctl(bystander, knob.key);
      SysctlGuard write(written, knob.key, probe);
      record.NoteSysctl(write);
      const NetNamespace later = NetNamespace::Create("later");
      const std::optional<std::string> bystander_after = ReadSysctl(bystander, knob.key);
      const std::optional<std::string> later_value = ReadSysctl(later, knob.key);

      record.Observe("written", probe);
      record.Observe("effective_after_write", write.effective());
      record.Observe("write_took_effect", write.effective() == probe);
      record.Observe("seen_in_existing_namespace", bystander_after != bystander_before);
      record.Observe("seen_in_new_namespace", later_value != value);
      record.Observe("per_netns", write.effective() == probe && bystander_after == bystander_before &&
                                      later_value == value);
    });
  }

 private:
  std::unique_ptr<ScenarioRecord> record_;
};

// One test per knob; the scenario id is the catalogue's key (kernel_surface.toml).
#define TCPREPRO_SURFACE(name, key, ...)                           \
  TEST_F(KernelSurface, S5_##name) {                               \
    Probe("S5-" #name, Knob{key, {__VA_ARGS__}});                  \
  }

TCPREPRO_SURFACE(tcp_tw_reuse, "net.ipv4.tcp_tw_reuse", "1", "0")
TCPREPRO_SURFACE(tcp_tw_reuse_delay, "net.ipv4.tcp_tw_reuse_delay", "1", "2")
TCPREPRO_SURFACE(tcp_tw_recycle, "net.ipv4.tcp_tw_recycle", "1", "0")
TCPREPRO_SURFACE(ip_local_port_range, "net.ipv4.ip_local_port_range", "40000 50001", "40002 50003")
TCPREPRO_SURFACE(ip_local_reserved_ports, "net.ipv4.ip_local_reserved_ports", "40000", "40001")
TCPREPRO_SURFACE(tcp_timestamps, "net.ipv4.tcp_timestamps", "0", "2")
TCPREPRO_SURFACE(tcp_rfc1337, "net.ipv4.tcp_rfc1337", "1", "0")
TCPREPRO_SURFACE(tcp_challenge_ack_limit, "net.ipv4.tcp_challenge_ack_limit", "999", "998")
TCPREPRO_SURFACE(tcp_keepalive_time, "net.ipv4.tcp_keepalive_time", "1", "2")
TCPREPRO_SURFACE(tcp_keepalive_intvl, "net.ipv4.tcp_keepalive_intvl", "1", "2")
TCPREPRO_SURFACE(tcp_keepalive_probes, "net.ipv4.tcp_keepalive_probes", "1", "2")
TCPREPRO_SURFACE(tcp_retries2, "net.ipv4.tcp_retries2", "2", "3")
TCPREPRO_SURFACE(tcp_syn_retries, "net.ipv4.tcp_syn_retries", "2", "3")

}  // namespace
}  // namespace tcprepro
