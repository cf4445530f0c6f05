// Network namespaces made for one test, and a guard that moves the calling
// thread into one.
//
// A NetNamespace is anonymous: it exists only while its file descriptor (and
// any process inside it) does, so a run killed with SIGKILL leaves no namespace
// behind — the kernel frees it, and the veths, qdiscs and netfilter rules in it,
// when the last reference goes.
//
// setns(CLONE_NEWNET) is per thread: a NamespaceGuard changes only the calling
// thread, and sockets keep the namespace they were created in after the guard
// ends. Files under /proc/sys/net and /proc/thread-self/net resolve against the
// thread's namespace at open time.
#pragma once

#include <sys/types.h>

#include <string>

#include "netns/unique_fd.h"

namespace tcprepro {

class NetNamespace {
 public:
  // Makes a new namespace with loopback up. `label` names it in evidence and errors.
  static NetNamespace Create(std::string label);
  // The namespace the calling thread is in now (for lab tests and probes).
  static NetNamespace OfCurrentThread(std::string label);

  int fd() const { return fd_.get(); }
  ino_t inode() const { return inode_; }
  const std::string& label() const { return label_; }
  // True for the namespace the process started in and for PID 1's.
  bool is_host() const;

 private:
  NetNamespace(UniqueFd fd, std::string label);
  UniqueFd fd_;
  ino_t inode_ = 0;
  std::string label_;
};

// Throws LabError unless `ns` is a namespace the lab may change; `action` says what was refused.
void RequireNotHost(const NetNamespace& ns, const std::string& action);

class NamespaceGuard {
 public:
  explicit NamespaceGuard(const NetNamespace& ns);
  ~NamespaceGuard();
  NamespaceGuard(const NamespaceGuard&) = delete;
  NamespaceGuard& operator=(const NamespaceGuard&) = delete;

 private:
  UniqueFd previous_;
};

}  // namespace tcprepro
