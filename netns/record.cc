#include "netns/record.h"

#include <fstream>

#include "netns/configuration.h"
#include "netns/error.h"

namespace tcprepro {

ScenarioRecord::ScenarioRecord(std::filesystem::path dir, nlohmann::json variant) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
  document_ = {{"variant", std::move(variant)}};
  ResetConfigurationRecord();
}

ScenarioRecord::~ScenarioRecord() {
  try {
    Write();
  } catch (const std::exception&) {
    // The harness reports a missing observations file as an error.
  }
}

void ScenarioRecord::AddCapture(const PacketCapture& capture, const std::string& description) {
  evidence_.push_back({{"kind", "pcap"},
                       {"path", std::filesystem::relative(capture.file(), dir_).string()},
                       {"namespace", capture.namespace_label()},
                       {"description", description}});
}

void ScenarioRecord::NoteImpairment(const Impairment& impairment) {
  const std::string name = impairment.backend();
  if (impairment_backend_.empty()) {
    impairment_backend_ = name;
  } else if (("," + impairment_backend_ + ",").find("," + name + ",") == std::string::npos) {
    impairment_backend_ += "," + name;
  }
}

const std::string& ScenarioRecord::Skip(std::string reason) {
  skipped_ = std::move(reason);
  return skipped_;
}

void ScenarioRecord::Write() const {
  nlohmann::json document = document_;
  document["observations"] = observations_;
  document["sysctls"] = sysctls_;
  document["configuration"] = ConfigurationRecord();
  document["evidence"] = evidence_;
  document["skipped"] = skipped_.empty() ? nlohmann::json(nullptr) : nlohmann::json(skipped_);
  document["impairment_backend"] =
      impairment_backend_.empty() ? nlohmann::json(nullptr) : nlohmann::json(impairment_backend_);
  const auto path = dir_ / "observations.json";
  std::ofstream out(path);
  out << document.dump(2) << '\n';
  if (!out) throw LabError("cannot write " + path.string());
}

}  // namespace tcprepro
