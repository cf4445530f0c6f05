#include "cases/port_sampling.h"

#include <sys/socket.h>

#include <sstream>

#include "netns/error.h"

namespace tcprepro {

ConnectSample SampleConnect(const Endpoint& to, int listener) {
  ConnectSample sample;
  UniqueFd client = TcpSocket(to.family());
  sample.err = ConnectErrno(client.get(), to);
  sample.reported_port = LocalEndpoint(client.get()).port;
  if (sample.err == 0) {
    SetAbortiveClose(client.get());
    if (listener >= 0) {
      // The handshake is complete, so the child is (or is about to be) queued:
      // a blocking accept waits on the protocol, not on a timer.
      UniqueFd accepted(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
      if (!accepted.valid()) ThrowErrno("accept after connect to " + to.ToString());
      SetAbortiveClose(accepted.get());
    }
  }
  return sample;
}

UniqueFd ListenOn(const Endpoint& at, int backlog) {
  UniqueFd fd = TcpSocket(at.family());
  SetReuseAddr(fd.get());
  if (int err = BindErrno(fd.get(), at)) throw LabError("bind listener " + at.ToString() + ": " + ErrnoName(err));
  if (int err = ListenErrno(fd.get(), backlog)) throw LabError("listen " + at.ToString() + ": " + ErrnoName(err));
  return fd;
}

std::pair<int, int> ParsePortRange(const std::string& text) {
  std::istringstream in(text);
  int low = 0, high = 0;
  if (!(in >> low >> high) || low > high) throw LabError("not a port range: '" + text + "'");
  return {low, high};
}

std::string LoopbackAddress(Family family) { return family == Family::kIpv4 ? "127.0.0.1" : "::1"; }

}  // namespace tcprepro
