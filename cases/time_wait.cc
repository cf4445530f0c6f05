#include "cases/time_wait.h"

#include <thread>

namespace tcprepro {

void SetClientReuse(TwoHostLab& lab, const std::string& tw_reuse, bool small_delay) {
  lab.Sysctl(lab.client(), "net.ipv4.tcp_tw_reuse", tw_reuse);
  lab.Sysctl(lab.client(), "net.ipv4.ip_local_port_range", kOnePortRange);
  const auto delay = ReadSysctl(lab.client(), "net.ipv4.tcp_tw_reuse_delay");
  if (delay && small_delay) lab.Sysctl(lab.client(), "net.ipv4.tcp_tw_reuse_delay", "1");
  lab.Observe("tw_reuse_delay_default", delay ? *delay : "absent");
}

void ClientActiveClose(TwoHostLab& lab, UniqueFd& client, UniqueFd& server) {
  client.reset();
  char byte;
  if (::recv(server.get(), &byte, 1, 0) != 0) throw LabError("the server did not read EOF after the client's close");
  server.reset();
  if (!WaitFor([&] { return TcpTableState(lab.client(), lab.family(), kClientPort, kServerPort) == "TIME_WAIT"; },
               kEventDeadline)) {
    throw LabError("the client's 4-tuple never reached TIME_WAIT");
  }
}

Reconnect ReconnectUntilReuse(TwoHostLab& lab, Clock::time_point since, std::chrono::milliseconds deadline,
                              const UniqueFd* server_socket) {
  const Endpoint server = lab.ServerAt(kServerPort);
  NamespaceGuard inside(lab.client());
  Reconnect out;
  const auto until = Clock::now() + deadline;
  for (;;) {
    UniqueFd fd = TcpSocket(lab.family());
    SetIoTimeout(fd.get(), kIoTimeoutMillis);
    if (server_socket) out.server_state = TcpState(server_socket->get());
    ++out.attempts;
    const auto start = Clock::now();
    out.err = ConnectErrno(fd.get(), server);
    out.connect_ms = MillisSince(start);
    if (out.err != EADDRNOTAVAIL) {
      out.wait_ms = std::chrono::duration<double, std::milli>(start - since).count();
      if (out.err == 0) out.fd = std::move(fd);
      return out;
    }
    if (Clock::now() >= until) {
      out.wait_ms = MillisSince(since);
      return out;
    }
    // connect() answers at once with EADDRNOTAVAIL; no event announces the
    // moment reuse becomes allowed, so the reconnect polls.
    std::this_thread::sleep_for(5ms);
  }
}

std::pair<UniqueFd, UniqueFd> ReuseOrEnd(TwoHostLab& lab, const UniqueFd& listener) {
  Reconnect again = ReconnectUntilReuse(lab, Clock::now(), kReuseDeadline);
  lab.Observe("reconnect_errno", ErrnoName(again.err));
  lab.Observe("reuse_wait_ms", again.wait_ms);
  lab.Observe("reused", again.err == 0);
  if (again.err != 0) {
    throw StoryEnds("tcp_tw_reuse=1 did not let the client reuse its TIME_WAIT 4-tuple within " +
                    std::to_string(std::chrono::milliseconds(kReuseDeadline).count()) + " ms (" +
                    ErrnoName(again.err) + ")");
  }
  UniqueFd server = Accept(listener.get(), kIoTimeoutMillis);
  if (LocalEndpoint(again.fd.get()).port != kClientPort) throw LabError("the reconnect did not get the client port");
  return {std::move(again.fd), std::move(server)};
}

bool FromClient(const TcpSegment& s) { return s.sport == kClientPort; }

std::string Labelled(const TcpSegment& s) { return (FromClient(s) ? "c:" : "s:") + s.flag_string(); }

std::vector<TcpSegment> StoryFlow(const std::vector<TcpSegment>& segments) {
  return Flow(segments, kClientPort, kServerPort);
}

std::vector<uint32_t> ClientIsns(const std::vector<TcpSegment>& flow) {
  std::vector<uint32_t> isns;
  for (const auto& s : flow) {
    if (FromClient(s) && s.syn() && !s.has_ack() && (isns.empty() || isns.back() != s.seq)) isns.push_back(s.seq);
  }
  return isns;
}

INSTANTIATE_TEST_SUITE_P(S3, TimeWaitOnLoopback, VariantsOver(Link::kLoopback), VariantParamName);
INSTANTIATE_TEST_SUITE_P(S3, TimeWaitOverVeth, VariantsOver(Link::kVeth), VariantParamName);

}  // namespace tcprepro
