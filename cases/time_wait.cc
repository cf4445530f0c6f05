#include "cases/time_wait.h"

#include <time.h>

#include <cerrno>
#include <optional>
#include <thread>

namespace tcprepro {

void SetClientReuse(TwoHostLab& lab, const std::string& tw_reuse, bool small_delay) {
  lab.Sysctl(lab.client(), "net.ipv4.tcp_tw_reuse", tw_reuse);
  lab.Sysctl(lab.client(), "net.ipv4.ip_local_port_range", kOnePortRange);
  const auto delay = ReadSysctl(lab.client(), "net.ipv4.tcp_tw_reuse_delay");
  if (delay && small_delay) lab.Sysctl(lab.client(), "net.ipv4.tcp_tw_reuse_delay", "1");
  lab.Observe("tw_reuse_delay_default", delay ? *delay : "absent");
}

namespace {

// The next whole second of CLOCK_MONOTONIC at least `lead` (plus half of it,
// for a late wake-up) away; sleeps until `lead` before it. A wake-up later
// than half the lead (a loaded machine, a TCG guest) moves to the next second.
Clock::time_point SleepUntilBeforeSecondTick(std::chrono::milliseconds lead) {
  for (;;) {
    const auto now = Clock::now();
    auto tick = std::chrono::ceil<std::chrono::seconds>(now.time_since_epoch() + lead + lead / 2);
    const Clock::time_point at{std::chrono::duration_cast<Clock::duration>(tick - lead)};
    timespec ts{};
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(at.time_since_epoch()).count();
    ts.tv_sec = ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    // steady_clock is CLOCK_MONOTONIC (libstdc++); an absolute wait does not drift.
    while (::clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr) == EINTR) {
    }
    const Clock::time_point tick_at{std::chrono::duration_cast<Clock::duration>(tick)};
    if (tick_at - Clock::now() > lead / 2) return tick_at;
  }
}

}  // namespace

ServerClose ClientActiveClose(TwoHostLab& lab, UniqueFd& client, UniqueFd& server, ServerFin when) {
  client.reset();
  char byte;
  if (::recv(server.get(), &byte, 1, 0) != 0) throw LabError("the server did not read EOF after the client's close");
  std::optional<Clock::time_point> tick;
  if (when == ServerFin::kBeforeSecondTick) tick = SleepUntilBeforeSecondTick(kFinBeforeTick);
  ServerClose out{Clock::now()};
  // On loopback and veth the FIN is delivered in softirq before close() returns.
  server.reset();
  if (tick) {
    out.before_tick = Clock::now() < *tick;
    out.ms_before_tick = std::chrono::duration<double, std::milli>(*tick - out.fin_at).count();
  }
  if (!WaitFor([&] { return TcpTableState(lab.client(), lab.family(), kClientPort, kServerPort) == "TIME_WAIT"; },
               kEventDeadline)) {
    throw LabError("the client's 4-tuple never reached TIME_WAIT");
  }
  return out;
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
    const double at_ms = std::chrono::duration<double, std::milli>(start - since).count();
    if (out.err != EADDRNOTAVAIL) {
      out.wait_ms = at_ms;
      if (out.err == 0) out.fd = std::move(fd);
      return out;
    }
    out.last_refused_ms = at_ms;
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
