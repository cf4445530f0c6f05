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
//
// S5-surface enumerates the whole TCP and port surface instead of a fixed list:
// every net.ipv4 sysctl about TCP or ports, the IPv6 ones the stories depend on
// and net.core.somaxconn, each with its default in a fresh namespace, whether it
// is writable there, and whether a changed value stays in that namespace. The
// harness judges the table knob by knob against the catalogue's knob list
// (harness/judge/surface.py): a knob the catalogue does not know is "new", never a pass.
//
// The subject of every S5 story is the kernel's defaults: a proposed
// configuration (netns/configuration.h) is not applied in their namespaces.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "cases/story.h"
#include "netns/configuration.h"

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

// The knobs S5-surface covers: net.ipv4 entries about TCP or ports, and these.
bool InSurface(const std::string& name) {
  static const std::vector<std::string> prefixes = {"net.ipv4.tcp_", "net.ipv4.ip_local_"};
  static const std::vector<std::string> names = {
      "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_autobind_reuse", "net.ipv4.ip_nonlocal_bind",
      "net.ipv4.ip_no_pmtu_disc",            "net.ipv4.fwmark_reflect",    "net.ipv6.bindv6only",
      "net.ipv6.ip_nonlocal_bind",           "net.ipv6.flowlabel_reflect", "net.ipv6.auto_flowlabels",
      "net.ipv6.fwmark_reflect",             "net.ipv6.conf.default.accept_dad",
      "net.ipv6.conf.default.dad_transmits", "net.ipv6.conf.default.optimistic_dad",
      "net.ipv6.conf.default.disable_ipv6",  "net.core.somaxconn"};
  for (const auto& prefix : prefixes) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Every surface sysctl under /proc/sys/net as the calling thread's namespace shows it.
std::vector<std::string> SurfaceNamesHere() {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator("/proc/sys/net")) {
    if (!entry.is_regular_file()) continue;
    std::string name = std::filesystem::relative(entry.path(), "/proc/sys").string();
    std::replace(name.begin(), name.end(), '/', '.');
    if (InSurface(name)) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

// Whether the calling thread's namespace shows `name` with a write bit (a look at the mode only).
bool WritableBit(const std::string& name) {
  std::string path = name;
  std::replace(path.begin(), path.end(), '.', '/');
  struct stat st {};
  return ::stat(("/proc/sys/" + path).c_str(), &st) == 0 && (st.st_mode & 0222) != 0;
}

// Values that differ from `value` and are likely valid: the last number moved by one.
std::vector<std::string> Nudged(const std::string& value) {
  if (value.empty()) return {"40000"};
  const auto space = value.find_last_of(' ');
  const std::string head = space == std::string::npos ? "" : value.substr(0, space + 1);
  const std::string last = space == std::string::npos ? value : value.substr(space + 1);
  if (last.empty() || last.find_first_not_of("-0123456789") != std::string::npos) return {};
  try {
    const long long n = std::stoll(last);
    return {head + std::to_string(n + 1), head + std::to_string(n - 1)};
  } catch (const std::exception&) {
    return {};
  }
}

// One knob as a fresh namespace shows it; `written` takes the probe writes, `bystander` must not see them.
nlohmann::json KnobState(const std::string& name, const NetNamespace& written, const NetNamespace& bystander) {
  const std::optional<std::string> value = ReadSysctl(written, name);
  bool writable = false;
  {
    NamespaceGuard inside(written);
    writable = WritableBit(name);
  }
  nlohmann::json per_netns = nullptr;
  if (value && writable) {
    for (const auto& probe : Nudged(*value)) {
      const std::optional<std::string> before = ReadSysctl(bystander, name);
      try {
        SysctlGuard write(written, name, probe);  // undone at the end of this block
        if (write.effective() == *value) continue;
        per_netns = ReadSysctl(bystander, name) == before;
      } catch (const LabError&) {
        continue;  // the kernel refused this value; try the next
      }
      break;
    }
  }
  // Writable in the initial namespace but not in a lab one: the kernel made a global knob read-only there.
  return {{"default", value ? nlohmann::json(*value) : nlohmann::json(nullptr)},
          {"writable", writable},
          {"global", !writable && WritableBit(name)},
          {"per_netns", per_netns},
          {"in_namespace", true}};
}

TEST(KernelSurface, S5_surface) {
  const ConfigurationSuspended defaults_only;
  auto lab = LabForCurrentTest({Family::kIpv4, Link::kNone}, {{"surface", "tcp and ports"}});
  TCPREPRO_STORY(*lab, {
    std::vector<std::string> names;
    {
      NamespaceGuard inside(lab->client());
      names = SurfaceNamesHere();
    }
    nlohmann::json table = nlohmann::json::object();
    // A knob the kernel registers for the initial namespace only is global: a lab
    // namespace does not even show it. The process starts in the host's (or the
    // guest's own) namespace; only names and modes are looked at there.
    for (const auto& name : SurfaceNamesHere()) {
      if (!std::binary_search(names.begin(), names.end(), name)) {
        table[name] = {{"default", nullptr}, {"writable", false}, {"global", true}, {"per_netns", false},
                       {"in_namespace", false}};
      }
    }
    for (const auto& name : names) table[name] = KnobState(name, lab->client(), lab->server());
    lab->Observe("knob_count", static_cast<int>(table.size()));
    lab->Observe("surface", table);
  });
}

// One story per knob; the test name is the catalogue's id (kernel_surface.toml) with '-' written '_'.
#define TCPREPRO_SURFACE(name, key, ...)                                                           \
  TEST(KernelSurface, S5_##name) {                                                                 \
    const ConfigurationSuspended defaults_only;                                                    \
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
