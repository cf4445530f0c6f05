#include "cases/story.h"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <string>

namespace tcprepro {
namespace {

// The folders a batch's TCPREPRO_EVIDENCE_DIRS file names, read once.
const nlohmann::json& BatchFolders(const char* file) {
  static const nlohmann::json folders = [&] {
    std::ifstream in(file);
    if (!in) throw LabError(std::string("TCPREPRO_EVIDENCE_DIRS: cannot read ") + file);
    return nlohmann::json::parse(in);
  }();
  return folders;
}

}  // namespace

std::filesystem::path EvidenceDirForCurrentTest() {
  if (const char* dir = std::getenv("TCPREPRO_EVIDENCE_DIR"); dir && *dir) return dir;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  const std::string full_name = std::string(info->test_suite_name()) + "." + info->name();
  if (const char* file = std::getenv("TCPREPRO_EVIDENCE_DIRS"); file && *file) {
    const nlohmann::json& folders = BatchFolders(file);
    if (!folders.contains(full_name)) throw LabError("TCPREPRO_EVIDENCE_DIRS names no folder for " + full_name);
    return folders.at(full_name).get<std::string>();
  }
  std::string name = full_name;
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') c = '_';
  }
  const char* root = std::getenv("TCPREPRO_EVIDENCE_ROOT");
  return (root && *root ? std::filesystem::path(root) : std::filesystem::current_path() / "evidence") / name;
}

std::unique_ptr<TwoHostLab> LabForCurrentTest(const Variant& variant, nlohmann::json description) {
  return std::make_unique<TwoHostLab>(variant, EvidenceDirForCurrentTest(), std::move(description));
}

}  // namespace tcprepro
