// What one scenario run leaves for the harness: observations (data, never
// verdicts), the effective sysctls, and evidence files, in one directory.
//
//   <dir>/observations.json   {"variant", "observations", "sysctls",
//                              "evidence": [{"kind", "path", "namespace", "description"}],
//                              "skipped": reason-or-null,
//                              "impairment_backend": "netem" | "nfqueue" | null}
//   <dir>/<capture>.pcap      evidence named by the scenario
//
// Which scenario a record belongs to is the harness's knowledge (it chose the
// folder); the record holds only what the story saw.
//
// The file is written when the record ends, so a scenario that throws half-way
// still leaves what it saw.
#pragma once

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "netns/capture.h"
#include "netns/impairment.h"
#include "netns/sysctl.h"

namespace tcprepro {

class ScenarioRecord {
 public:
  ScenarioRecord(std::filesystem::path dir, nlohmann::json variant);
  ~ScenarioRecord();
  ScenarioRecord(const ScenarioRecord&) = delete;
  ScenarioRecord& operator=(const ScenarioRecord&) = delete;

  const std::filesystem::path& dir() const { return dir_; }

  void Observe(const std::string& key, nlohmann::json value) { observations_[key] = std::move(value); }
  void NoteSysctl(const SysctlGuard& guard) { sysctls_[guard.key()] = guard.effective(); }
  void AddCapture(const PacketCapture& capture, const std::string& description);
  // Records which backend ran the impairment ("netem,nfqueue" if a story used both).
  void NoteImpairment(const Impairment& impairment);
  // Records why the scenario cannot run here, and returns the reason for GTEST_SKIP().
  const std::string& Skip(std::string reason);

  void Write() const;

 private:
  std::filesystem::path dir_;
  nlohmann::json document_;
  nlohmann::json observations_ = nlohmann::json::object();
  nlohmann::json sysctls_ = nlohmann::json::object();
  nlohmann::json evidence_ = nlohmann::json::array();
  std::string skipped_;
  std::string impairment_backend_;
};

}  // namespace tcprepro
