// Errors of the lab. A LabError means the machinery failed (a syscall, a tool,
// a missing packet): the case fails. An Unsupported means the kernel or the
// machine lacks a feature the scenario needs: the case skips with the reason.
#pragma once

#include <stdexcept>
#include <string>

namespace tcprepro {

class LabError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Unsupported : public LabError {
 public:
  using LabError::LabError;
};

// Throws LabError("<what>: <strerror(errno)>") — call right after the failing syscall.
[[noreturn]] void ThrowErrno(const std::string& what);

// "ECONNREFUSED" for ECONNREFUSED, "0" for 0: errno as data, not as prose.
std::string ErrnoName(int err);

}  // namespace tcprepro
