// S5. Kernel surface.
//
// For each sysctl the scenarios depend on: does this kernel have it, what is
// its default in a fresh namespace, and is it per network namespace?
//
// "Per namespace" is tested, not assumed: a write in the lab's client
// namespace must be seen neither in its server namespace, which already
// existed, nor in a third namespace made after the write. The host's own
// namespace is never written (SysctlGuard refuses it); a knob whose table the
// kernel registers for the initial namespace only is not even visible in a lab
// namespace, so it reads as absent here. The write is undone when the story ends.
//
// No packets, no variants: one story per sysctl, so that the report gets one
// row per knob and a kernel that differs shows in that row.
#include <optional>
#include <string>
#include <vector>

#include "cases/story.h"

namespace tcprepro {
namespace {

struct Knob {
  std::string key;
  // Values to write, the first one that differs from the default is used:
  // each is valid on every kernel that has the knob.
  std::vector<std::string> probes;
};

void ProbeStory(TwoHostLab& lab, const Knob& knob) {
  const NetNamespace& written = lab.client();
  const NetNamespace& bystander = lab.server();
  const std::optional<std::string> value = ReadSysctl(written, knob.key);
  lab.Observe("sysctl", knob.key);
  lab.Observe("exists", value.has_value());
  lab.Observe("default", value ? nlohmann::json(*value) : nlohmann::json(nullptr));
  if (!value) {
    lab.Observe("per_netns", nullptr);
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
  const std::string effective = lab.Sysctl(written, knob.key, probe);
  const NetNamespace later = NetNamespace::Create("later");
  const std::optional<std::string> bystander_after = ReadSysctl(bystander, knob.key);
  const std::optional<std::string> later_value = ReadSysctl(later, knob.key);

  lab.Observe("written", probe);
  lab.Observe("effective_after_write", effective);
  lab.Observe("write_took_effect", effective == probe);
  lab.Observe("seen_in_existing_namespace", bystander_after != bystander_before);
  lab.Observe("seen_in_new_namespace", later_value != value);
  lab.Observe("per_netns", effective == probe && bystander_after == bystander_before && later_value == value);
}

// One story per knob; the test name is the catalogue's id (kernel_surface.toml) with '-' written '_'.
#define TCPREPRO_SURFACE(name, key, ...)                                                           \
  TEST(KernelSurface, S5_##name) {                                                                 \
    auto lab = LabForCurrentTest({Family::kIpv4, Link::kNone}, {{"sysctl", key}});                 \
    TCPREPRO_STORY(*lab, ProbeStory(*lab, Knob{key, {__VA_ARGS__}}));                              \
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
