#include "netns/namespace.h"

#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstring>
#include <exception>
#include <string>

#include "netns/configuration.h"
#include "netns/error.h"

namespace tcprepro {
namespace {

ino_t InodeOf(const char* path) {
  struct stat st {};
  if (::stat(path, &st) != 0) return 0;
  return st.st_ino;
}

ino_t InodeOfFd(int fd) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) ThrowErrno("fstat(netns fd)");
  return st.st_ino;
}

UniqueFd OpenThreadNetns() {
  UniqueFd fd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) ThrowErrno("open(/proc/thread-self/ns/net)");
  return fd;
}

// The namespace this process started in. Captured before main() runs, while
// no lab code can have moved the thread.
const ino_t kStartupNetns = InodeOf("/proc/self/ns/net");

void BringLoopbackUp() {
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!sock.valid()) ThrowErrno("socket(AF_INET) for loopback");
  struct ifreq ifr {};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (::ioctl(sock.get(), SIOCGIFFLAGS, &ifr) != 0) ThrowErrno("SIOCGIFFLAGS lo");
  ifr.ifr_flags |= IFF_UP;
  if (::ioctl(sock.get(), SIOCSIFFLAGS, &ifr) != 0) ThrowErrno("SIOCSIFFLAGS lo up");
}

}  // namespace

NetNamespace::NetNamespace(UniqueFd fd, std::string label)
    : fd_(std::move(fd)), inode_(InodeOfFd(fd_.get())), label_(std::move(label)) {}

NetNamespace NetNamespace::Create(std::string label) {
  // unshare() moves this thread into the new namespace; keep a handle on the
  // old one and always return to it, whatever happens in between.
  UniqueFd previous = OpenThreadNetns();
  if (::unshare(CLONE_NEWNET) != 0) {
    if (errno == EPERM) throw Unsupported("creating a network namespace needs CAP_SYS_ADMIN (run as root)");
    ThrowErrno("unshare(CLONE_NEWNET)");
  }
  struct Return {
    int fd;
    ~Return() {
      if (::setns(fd, CLONE_NEWNET) != 0) std::terminate();
    }
  } back{previous.get()};
  NetNamespace ns(OpenThreadNetns(), std::move(label));
  BringLoopbackUp();
  ApplyProposedSysctls(ns.label());
  return ns;
}

NetNamespace NetNamespace::OfCurrentThread(std::string label) {
  return NetNamespace(OpenThreadNetns(), std::move(label));
}

bool NetNamespace::is_host() const {
  return inode_ == kStartupNetns || inode_ == InodeOf("/proc/1/ns/net");
}

void RequireNotHost(const NetNamespace& ns, const std::string& action) {
  if (ns.is_host()) {
    throw LabError("refusing to " + action + " in the host's network namespace (netns inode " +
                   std::to_string(ns.inode()) + "); the lab changes only namespaces it made");
  }
}

NamespaceGuard::NamespaceGuard(const NetNamespace& ns) : previous_(OpenThreadNetns()) {
  if (::setns(ns.fd(), CLONE_NEWNET) != 0) ThrowErrno("setns(" + ns.label() + ")");
}

NamespaceGuard::~NamespaceGuard() {
  // Failing to return would leave this thread in a test namespace; nothing
  // after that could be trusted.
  if (::setns(previous_.get(), CLONE_NEWNET) != 0) std::terminate();
}

}  // namespace tcprepro
