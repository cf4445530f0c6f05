// Per-namespace sysctls.
//
// A SysctlGuard writes one knob in one lab namespace and puts the old value
// back when it ends. It probes first: a knob the kernel does not have throws
// Unsupported (the scenario skips with that reason), and the host's own
// namespace is refused outright. Values are read back, so what a scenario
// records is what the kernel accepted, not what was asked for.
#pragma once

#include <optional>
#include <string>
#include <utility>

#include "netns/namespace.h"

namespace tcprepro {

// The value of `key` ("net.ipv4.tcp_tw_reuse") in `ns`, whitespace-normalised;
// nullopt if this kernel has no such knob.
std::optional<std::string> ReadSysctl(const NetNamespace& ns, const std::string& key);

// The same in the calling thread's namespace (inside a NamespaceGuard, or while
// NetNamespace::Create is in the new namespace).
std::optional<std::string> ReadInCurrentNamespace(const std::string& key);
// Writes `value` to `key` in the calling thread's namespace; LabError with errno if refused.
void WriteInCurrentNamespace(const std::string& key, const std::string& value);
// "40000 40255" (ip_local_port_range's text) as {40000, 40255}; throws LabError otherwise.
std::pair<int, int> ParsePortRange(const std::string& text);

class SysctlGuard {
 public:
  SysctlGuard(const NetNamespace& ns, std::string key, const std::string& value);
  ~SysctlGuard();
  SysctlGuard(const SysctlGuard&) = delete;
  SysctlGuard& operator=(const SysctlGuard&) = delete;

  const std::string& key() const { return key_; }
  // What the kernel holds after the write.
  const std::string& effective() const { return effective_; }

 private:
  const NetNamespace& ns_;
  std::string key_;
  std::string previous_;
  std::string effective_;
};

}  // namespace tcprepro
