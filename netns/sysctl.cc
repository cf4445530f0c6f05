#include "netns/sysctl.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>

#include "netns/configuration.h"
#include "netns/error.h"
#include "netns/unique_fd.h"

namespace tcprepro {
namespace {

std::string ProcPath(const std::string& key) {
  std::string path = key;
  std::replace(path.begin(), path.end(), '.', '/');
  return "/proc/sys/" + path;
}

// "32768\t60999\n" -> "32768 60999": the kernel's separators are not part of the value.
std::string Normalise(const std::string& raw) {
  std::istringstream words(raw);
  std::string word, out;
  while (words >> word) out += (out.empty() ? "" : " ") + word;
  return out;
}

}  // namespace

std::optional<std::string> ReadInCurrentNamespace(const std::string& key) {
  UniqueFd fd(::open(ProcPath(key).c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (errno == ENOENT) return std::nullopt;
    ThrowErrno("open " + ProcPath(key));
  }
  std::string raw(4096, '\0');
  const ssize_t n = ::read(fd.get(), raw.data(), raw.size());
  if (n < 0) ThrowErrno("read " + ProcPath(key));
  raw.resize(static_cast<size_t>(n));
  return Normalise(raw);
}

void WriteInCurrentNamespace(const std::string& key, const std::string& value) {
  UniqueFd fd(::open(ProcPath(key).c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) ThrowErrno("open " + ProcPath(key) + " for writing");
  if (::write(fd.get(), value.data(), value.size()) != static_cast<ssize_t>(value.size())) {
    ThrowErrno("write '" + value + "' to " + key);
  }
}

std::optional<std::string> ReadSysctl(const NetNamespace& ns, const std::string& key) {
  NamespaceGuard inside(ns);
  return ReadInCurrentNamespace(key);
}

SysctlGuard::SysctlGuard(const NetNamespace& ns, std::string key, const std::string& value)
    : ns_(ns), key_(std::move(key)) {
  RequireNotHost(ns_, "write sysctl " + key_);
  NamespaceGuard inside(ns_);
  std::optional<std::string> previous = ReadInCurrentNamespace(key_);
  if (!previous) throw Unsupported("sysctl " + key_ + " does not exist on this kernel");
  previous_ = *previous;
  WriteInCurrentNamespace(key_, value);
  effective_ = ReadInCurrentNamespace(key_).value_or("");
  NotePinnedByScenario(key_, effective_, ns_.label());
}

SysctlGuard::~SysctlGuard() {
  try {
    NamespaceGuard inside(ns_);
    WriteInCurrentNamespace(key_, previous_);
  } catch (const LabError&) {
    // The namespace is the test's own and ends with it; a failed restore
    // cannot leak into the host.
  }
}

std::pair<int, int> ParsePortRange(const std::string& text) {
  std::istringstream in(text);
  int low = 0, high = 0;
  if (!(in >> low >> high) || low > high) throw LabError("not a port range: '" + text + "'");
  return {low, high};
}

}  // namespace tcprepro
