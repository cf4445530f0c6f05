#include "netns/error.h"

#include <cerrno>
#include <cstring>

namespace tcprepro {

void ThrowErrno(const std::string& what) {
  const int err = errno;
  throw LabError(what + ": " + ErrnoName(err) + " (" + std::strerror(err) + ")");
}

std::string ErrnoName(int err) {
  if (err == 0) return "0";
  const char* name = strerrorname_np(err);
  return name ? name : "errno " + std::to_string(err);
}

}  // namespace tcprepro
