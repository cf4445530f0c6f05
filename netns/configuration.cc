#include "netns/configuration.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <mutex>
#include <vector>

#include "netns/error.h"
#include "netns/sysctl.h"

namespace tcprepro {
namespace {

std::map<std::string, std::string> Parse() {
  const char* text = std::getenv("TCPREPRO_SYSCTLS");
  std::map<std::string, std::string> out;
  if (!text || !*text) return out;
  const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_object()) throw LabError("TCPREPRO_SYSCTLS is not a JSON object of sysctl name -> value");
  for (const auto& [key, value] : parsed.items()) {
    if (!value.is_string()) throw LabError("TCPREPRO_SYSCTLS: the value of " + key + " is not a string");
    out[key] = value.get<std::string>();
  }
  return out;
}

std::mutex pins_mutex;
std::map<std::string, std::string> pins;
std::map<std::string, std::vector<std::string>> pinned_in;
std::vector<std::string> applied_in;  // labels of the namespaces the configuration was applied in
bool suspended_in_story = false;
std::atomic<int> suspensions{0};

}  // namespace

const std::map<std::string, std::string>& ProposedSysctls() {
  static const std::map<std::string, std::string> proposed = Parse();
  return proposed;
}

void ApplyProposedSysctls(const std::string& label) {
  if (suspensions.load() > 0) return;
  for (const auto& [key, value] : ProposedSysctls()) {
    if (!ReadInCurrentNamespace(key)) {
      throw Unsupported("the configuration sets " + key + ", which this kernel does not have");
    }
    try {
      WriteInCurrentNamespace(key, value);
    } catch (const LabError& error) {
      throw LabError("applying the configuration in namespace " + label + ": " + error.what());
    }
  }
  if (ProposedSysctls().empty()) return;
  std::lock_guard<std::mutex> lock(pins_mutex);
  applied_in.push_back(label);
}

void NotePinnedByScenario(const std::string& key, const std::string& value, const std::string& label) {
  // While suspended the story runs on the kernel's defaults: nothing of the configuration to pin.
  if (ProposedSysctls().count(key) == 0 || suspensions.load() > 0) return;
  std::lock_guard<std::mutex> lock(pins_mutex);
  pins[key] = value;
  auto& labels = pinned_in[key];
  if (std::find(labels.begin(), labels.end(), label) == labels.end()) labels.push_back(label);
}

nlohmann::json ConfigurationRecord() {
  if (ProposedSysctls().empty()) return nullptr;
  std::lock_guard<std::mutex> lock(pins_mutex);
  return {{"proposed", ProposedSysctls()}, {"applied_in", applied_in}, {"pinned", pins},
          {"pinned_in", pinned_in}, {"suspended", suspended_in_story}};
}

void ResetConfigurationRecord() {
  std::lock_guard<std::mutex> lock(pins_mutex);
  pins.clear();
  pinned_in.clear();
  applied_in.clear();
  suspended_in_story = suspensions.load() > 0;
}

ConfigurationSuspended::ConfigurationSuspended() {
  ++suspensions;
  std::lock_guard<std::mutex> lock(pins_mutex);
  suspended_in_story = true;
}

ConfigurationSuspended::~ConfigurationSuspended() { --suspensions; }

}  // namespace tcprepro
