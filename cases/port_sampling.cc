#include "cases/port_sampling.h"

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
      UniqueFd accepted = Accept(listener);
      SetAbortiveClose(accepted.get());
    }
  }
  return sample;
}

}  // namespace tcprepro
