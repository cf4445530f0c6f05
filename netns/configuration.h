// The run's proposed sysctl configuration, applied in every lab namespace.
//
// The harness passes it in TCPREPRO_SYSCTLS as a JSON object
// {"net.ipv4.tcp_tw_reuse": "1", ...}; unset or {} means the kernel's defaults.
// NetNamespace::Create applies it in each namespace it makes, before any story
// code runs there, so every story sees the proposed values. A story that sets
// one of those sysctls for its own purpose (a SysctlGuard) keeps its value; the
// configuration notes it as pinned by the scenario, and the record says so.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace tcprepro {

// The proposed values, parsed once from TCPREPRO_SYSCTLS (a malformed value is a LabError).
const std::map<std::string, std::string>& ProposedSysctls();

// Writes every proposed sysctl in the calling thread's namespace, which must be a
// lab namespace just made (`label` names it in errors). A knob this kernel lacks is
// Unsupported: the story skips, since it could not run under the configuration.
void ApplyProposedSysctls(const std::string& label);

// A story set `key` to `value` in its namespace `label`: noted when `key` is proposed.
void NotePinnedByScenario(const std::string& key, const std::string& value, const std::string& label);

// What the current story ran under, for its record:
//   {"proposed": {...}, "applied_in": [namespace labels], "pinned": {key: scenario's value},
//    "pinned_in": {key: [namespace labels]}, "suspended": bool}
// or null when the run has no proposed configuration.
nlohmann::json ConfigurationRecord();
// Starts a new story's record (forgets earlier pins); ScenarioRecord calls it.
void ResetConfigurationRecord();

// While one lives, new namespaces get the kernel's defaults: for a story whose
// subject is the defaults themselves (the kernel surface).
class ConfigurationSuspended {
 public:
  ConfigurationSuspended();
  ~ConfigurationSuspended();
  ConfigurationSuspended(const ConfigurationSuspended&) = delete;
  ConfigurationSuspended& operator=(const ConfigurationSuspended&) = delete;
};

}  // namespace tcprepro
