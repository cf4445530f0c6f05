// Sampling the source ports that connect() picks (S2), shared by the S2
// stories and the sampling benchmark.
//
// One sample is one connect() from a fresh socket. The sample is ended so that
// nothing holds the port afterwards: a refused connect leaves nothing behind,
// and an accepted one is reset at both ends (SO_LINGER 0), so no TIME_WAIT and
// no queued child remains. The next sample then sees the same free range, and
// the sequence reflects the kernel's choice alone.
#pragma once

#include <cstdint>

#include "netns/socket.h"
#include "netns/unique_fd.h"

namespace tcprepro {

struct ConnectSample {
  int err = 0;                 // errno of connect(), 0 on success
  uint16_t reported_port = 0;  // getsockname() right after connect(); 0 if the kernel had released it
};

// Connects a fresh socket to `to`. With a `listener` (fd >= 0, listening in the
// calling thread's namespace) the connection is accepted and both ends reset.
ConnectSample SampleConnect(const Endpoint& to, int listener = -1);

}  // namespace tcprepro
