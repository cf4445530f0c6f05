#include "cases/case_support.h"

#include <cstdlib>

namespace tcprepro {

std::filesystem::path EvidenceDirForCurrentTest() {
  if (const char* dir = std::getenv("TCPREPRO_EVIDENCE_DIR"); dir && *dir) return dir;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : name) {
    if (c == '/') c = '_';
  }
  return std::filesystem::current_path() / "evidence" / name;
}

}  // namespace tcprepro
