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
//
// S5_Surface enumerates the whole TCP and port surface instead of a fixed list:
// every net.ipv4 sysctl about TCP or ports, the IPv6 ones the stories depend on
// and net.core.somaxconn, each with its default in a fresh namespace, whether it
// is writable there, and whether a changed value stays in that namespace. The
// harness judges the table knob by knob against the catalogue's knob list
// (harness/surface.py): a knob the catalogue does not know is "new", never a pass.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
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

// The knobs S5_Surface covers: net.ipv4 entries about TCP or ports, and these.
bool InSurface(const std::string& name) {
  static const std::vector<std::string> prefixes = {"net.ipv4.tcp_", "net.ipv4.ip_local_"};
  static const std::vector<std::string> names = {
      "net.ipv4.ip_unprivileged_port_start", "net.ipv4.ip_autobind_reuse", "net.ipv4.ip_nonlocal_bind",
      "net.ipv4.ip_no_pmtu_disc",            "net.ipv4.fwmark_reflect",    "net.ipv4.tcp_ecn",
      "net.ipv6.bindv6only",                 "net.ipv6.ip_nonlocal_bind",  "net.ipv6.flowlabel_reflect",
      "net.ipv6.auto_flowlabels",            "net.ipv6.fwmark_reflect",    "net.ipv6.conf.default.accept_dad",
      "net.ipv6.conf.default.dad_transmits", "net.ipv6.conf.default.optimistic_dad",
      "net.ipv6.conf.default.disable_ipv6",  "net.core.somaxconn"};
  for (const auto& prefix : prefixes) {
    if (name.rfind(prefix, 0) == 0) return true;
  }
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Every sysctl name under /proc/sys/net as the calling thread's namespace shows it.
std::vector<std::string> SysctlNamesHere() {
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

bool WritableBit(const std::string& name) {
  std::string path = "/proc/sys/" + name;
  std::replace(path.begin() + 10, path.end(), '.', '/');
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && (st.st_mode & 0222) != 0;
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

TEST(KernelSurfaceTable, S5_Surface) {
  ScenarioRecord record(EvidenceDirForCurrentTest(), "S5-surface", nlohmann::json{{"surface", "tcp and ports"}});
  const ConfigurationSuspended defaults_only;
  TCPREPRO_STORY(record, {
    // The process starts in the host's (or the guest's own) namespace: only the
    // files' modes are looked at there, nothing is read or written.
    const NetNamespace written = NetNamespace::Create("written");
    const NetNamespace bystander = NetNamespace::Create("bystander");
    std::vector<std::string> names;
    {
      NamespaceGuard inside(written);
      names = SysctlNamesHere();
    }
    nlohmann::json table = nlohmann::json::object();
    // A knob the kernel registers for the initial namespace only is global: a lab
    // namespace does not even show it. Its value there is the host's, not read.
    for (const auto& name : SysctlNamesHere()) {
      if (!std::binary_search(names.begin(), names.end(), name)) {
        table[name] = {{"default", nullptr}, {"writable", false}, {"global", true}, {"per_netns", false},
                       {"in_namespace", false}};
      }
    }
    for (const auto& name : names) {
      const std::optional<std::string> value = ReadSysctl(written, name);
      nlohmann::json knob = {{"default", value ? nlohmann::json(*value) : nlohmann::json(nullptr)}};
      bool writable_in_namespace = false;
      {
        NamespaceGuard inside(written);
        writable_in_namespace = WritableBit(name);
      }
      // Writable in the initial namespace but not in a lab one: the kernel made a global knob read-only there.
      knob["writable"] = writable_in_namespace;
      knob["global"] = !writable_in_namespace && WritableBit(name);
      nlohmann::json per_netns = nullptr;
      if (value && writable_in_namespace) {
        for (const auto& probe : Nudged(*value)) {
          const std::optional<std::string> before = ReadSysctl(bystander, name);
          try {
            SysctlGuard write(written, name, probe);
            if (write.effective() == *value) continue;
            per_netns = ReadSysctl(bystander, name) == before;
          } catch (const LabError&) {
            continue;  // the kernel refused this value; try the next
          }
          break;
        }
      }
      knob["per_netns"] = per_netns;
      knob["in_namespace"] = true;
      table[name] = knob;
    }
    record.Observe("knob_count", static_cast<int>(table.size()));
    record.Observe("surface", table);
  });
}

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
