#include "cases/story.h"

#include <cctype>
#include <cstdlib>
#include <string>

namespace tcprepro {

std::filesystem::path EvidenceDirForCurrentTest() {
  if (const char* dir = std::getenv("TCPREPRO_EVIDENCE_DIR"); dir && *dir) return dir;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
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
