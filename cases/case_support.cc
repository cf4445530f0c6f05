#include "cases/case_support.h"

#include <cctype>
#include <cstdlib>
#include <thread>

namespace tcprepro {

std::filesystem::path EvidenceDirForCurrentTest() {
  if (const char* dir = std::getenv("TCPREPRO_EVIDENCE_DIR"); dir && *dir) return dir;
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  // The same name as the harness's CaseTest.evidence_name.
  std::string name = std::string(info->test_suite_name()) + "." + info->name();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '.' && c != '-') c = '_';
  }
  const char* root = std::getenv("TCPREPRO_EVIDENCE_ROOT");
  return (root && *root ? std::filesystem::path(root) : std::filesystem::current_path() / "evidence") / name;
}

bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

double MillisSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace tcprepro
