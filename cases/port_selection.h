// What the two S2 story files share: socket options newer than the libc headers.
#pragma once

#include <string>

#include "netns/error.h"
#include "netns/socket.h"

namespace tcprepro {

// Option numbers from linux/in.h, which cannot be included beside netinet/in.h.
inline constexpr int kIpBindAddressNoPort = 24;  // v4.2, 90c337da1524
inline constexpr int kIpLocalPortRange = 51;     // v6.3 (stable 6.1.32), 91d0b78c5177

// Probes an IPPROTO_IP option on a throwaway socket in the calling thread's
// namespace. ENOPROTOOPT, the kernel lacking the option, is Unsupported (the
// story skips, and the catalogue judges the skip); any other errno is the
// story's or the lab's fault, never a skip.
inline void RequireSocketOption(Family family, int name, int value, const std::string& what) {
  UniqueFd probe = TcpSocket(family);
  const int err = SetOptionErrno(probe.get(), SOL_IP, name, value);
  if (err == ENOPROTOOPT) throw Unsupported(what + " (setsockopt returned " + ErrnoName(err) + ")");
  if (err != 0) throw LabError("probing " + what + ": setsockopt returned " + ErrnoName(err));
}

}  // namespace tcprepro
