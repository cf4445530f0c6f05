#include "cases/liveness.h"

#include <cmath>

#include "netns/clock.h"

namespace tcprepro {

Connection Connect(TwoHostLab& lab, const std::function<void(int)>& before_connect) {
  UniqueFd listener = lab.Listen(kServerPort);
  Connection c;
  c.client = lab.Connect(kServerPort, kIoTimeoutMillis, before_connect);
  c.server = Accept(listener.get());
  c.client_end = LocalEndpoint(c.client.get());
  c.server_end = LocalEndpoint(c.server.get());
  return c;
}

void Exchange(const Connection& c) {
  const std::string hello = "hello";
  if (::send(c.client.get(), hello.data(), hello.size(), 0) != static_cast<ssize_t>(hello.size())) ThrowErrno("send hello");
  char buf[16];
  SetIoTimeout(c.server.get(), kIoTimeoutMillis);
  if (::recv(c.server.get(), buf, sizeof buf, 0) != static_cast<ssize_t>(hello.size())) ThrowErrno("recv hello");
  if (!WaitFor([&] { return TcpInfo(c.client.get()).tcpi_unacked == 0; }, kDeadline)) {
    throw LabError("hello was never acknowledged");
  }
}

Connection ConnectIdleAndCut(TwoHostLab& lab, const std::function<void(int)>& before_connect) {
  Connection c = Connect(lab, before_connect);
  Exchange(c);
  lab.Observe("cut", lab.Cut());
  return c;
}

void SendPayload(const Connection& c) {
  const std::string data(kPayloadBytes, 'd');
  if (::send(c.client.get(), data.data(), data.size(), 0) != static_cast<ssize_t>(data.size())) {
    ThrowErrno("send payload");
  }
}

void AwaitRetransmissions(const Connection& c, unsigned count) {
  if (!WaitFor([&] { return TcpInfo(c.client.get()).tcpi_total_retrans >= count; }, kDeadline)) {
    throw LabError("no retransmissions during the cut");
  }
}

RecvOutcome BlockingRecv(int fd) {
  SetIoTimeout(fd, kIoTimeoutMillis);
  char buf[4096];
  const auto start = std::chrono::steady_clock::now();
  RecvOutcome out;
  out.result = ::recv(fd, buf, sizeof buf, 0);
  out.err = out.result < 0 ? errno : 0;
  out.elapsed_ms = MillisSince(start);
  return out;
}

std::string RecvResultName(const RecvOutcome& r) {
  if (r.result == 0) return "eof";
  return r.result > 0 ? "data" : "error";
}

void Finish(TwoHostLab& lab, const std::string& what) {
  lab.Restore();
  lab.StopCaptures(what);
  lab.Observe("dropped_to_server", lab.dropped_to_server());
  lab.Observe("dropped_to_client", lab.dropped_to_client());
}

std::vector<long> OffsetsMs(const std::vector<TcpSegment>& segments, double origin) {
  std::vector<long> out;
  for (const auto& s : segments) out.push_back(std::lround((s.time - origin) * 1000));
  return out;
}

INSTANTIATE_TEST_SUITE_P(S4, Liveness, VariantsOver(Link::kVeth), VariantParamName);

}  // namespace tcprepro
