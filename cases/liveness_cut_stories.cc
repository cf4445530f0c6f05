// S4b-S4d: the cable is pulled (the lab's Cut()) on an established connection.
#include <poll.h>

#include <memory>

#include "cases/liveness.h"
#include "netns/clock.h"

namespace tcprepro {
namespace {

// S4b: how long the idle survivor is watched after the cut. A window, not
// "forever": the claim is that nothing at all happens in it.
constexpr int kObservationWindowMillis = 2000;
// S4c: keepalive made short. Expected abort: idle + interval x probes = 3 s.
constexpr int kKeepIdleSeconds = 1, kKeepIntervalSeconds = 1, kKeepProbes = 2;
// S4d: TCP_USER_TIMEOUT, and the per-namespace tcp_retries2 whose modelled
// timeout (tcp_model_timeout(): (2^(n+1) - 1) x 200 ms) is 600 ms for n = 1.
// Both count from retrans_stamp, which the first RTO retransmission sets (a
// tail loss probe before it does not), so the abort comes later than that.
constexpr int kUserTimeoutMillis = 1000;
constexpr int kRetries2 = 1;
// S4d restored: the link comes back after this many retransmissions.
constexpr unsigned kRetransmissionsBeforeRestore = 2;

constexpr const char* kCutCaptures = "the connection and the cut (the server's capture taps ingress before the cut "
                                     "drops it, and never shows what the server sent during the cut)";

// S4b: no keepalive; the survivor is watched for a fixed window.
TEST_P(Liveness, S4b) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, {
    Connection c = ConnectIdleAndCut(lab);
    pollfd watch{c.client.get(), POLLIN | POLLRDHUP, 0};
    ASSERT_GE(::poll(&watch, 1, kObservationWindowMillis), 0) << "poll";
    const struct tcp_info info = TcpInfo(c.client.get());
    const int so_error = SocketError(c.client.get());
    const std::string peer_state = TcpState(c.server.get());
    Finish(lab, kCutCaptures);

    lab.Observe("observation_window_ms", kObservationWindowMillis);
    lab.Observe("poll_events", static_cast<int>(watch.revents));
    lab.Observe("survivor_state", TcpStateName(info.tcpi_state));
    lab.Observe("survivor_so_error", ErrnoName(so_error));
    lab.Observe("survivor_segments_after_cut",
                static_cast<int>(SentBy(lab.ClientSegments(), c.client_end, lab.cut_at()).size()));
    lab.Observe("survivor_retransmits", static_cast<int>(info.tcpi_retransmits));
    lab.Observe("survivor_probes", static_cast<int>(info.tcpi_probes));
    lab.Observe("peer_state", peer_state);
  });
}

// S4c: keepalive, configured per socket or per namespace, on an idle connection whose link is cut.
void KeepaliveStory(TwoHostLab& lab, bool socket_options) {
  if (!socket_options) {
    lab.Sysctl(lab.client(), "net.ipv4.tcp_keepalive_time", std::to_string(kKeepIdleSeconds));
    lab.Sysctl(lab.client(), "net.ipv4.tcp_keepalive_intvl", std::to_string(kKeepIntervalSeconds));
    lab.Sysctl(lab.client(), "net.ipv4.tcp_keepalive_probes", std::to_string(kKeepProbes));
  }
  Connection c = ConnectIdleAndCut(lab, [&](int fd) {
    if (!socket_options) return;
    SetIntOption(fd, IPPROTO_TCP, TCP_KEEPIDLE, kKeepIdleSeconds, "TCP_KEEPIDLE");
    SetIntOption(fd, IPPROTO_TCP, TCP_KEEPINTVL, kKeepIntervalSeconds, "TCP_KEEPINTVL");
    SetIntOption(fd, IPPROTO_TCP, TCP_KEEPCNT, kKeepProbes, "TCP_KEEPCNT");
  });
  // Keepalive goes on once the cut is in place, so that a slow cut cannot
  // let a probe through: SO_KEEPALIVE arms the timer for the full idle time
  // (tcp_set_keepalive()), and the connection has been idle since the exchange.
  const double keepalive_on_at = EpochSeconds();
  const auto idle_from = std::chrono::steady_clock::now();
  SetIntOption(c.client.get(), SOL_SOCKET, SO_KEEPALIVE, 1, "SO_KEEPALIVE");
  const RecvOutcome got = BlockingRecv(c.client.get());
  const double ms = MillisSince(idle_from);
  const std::string state = TcpState(c.client.get());
  Finish(lab, kCutCaptures);

  const auto after_cut = SentBy(lab.ClientSegments(), c.client_end, lab.cut_at());
  int probes = 0;
  for (const auto& s : after_cut) probes += s.payload == 0 && !(s.flags & (kTcpSyn | kTcpFin | kTcpRst));
  lab.Observe("keepalive_config", socket_options ? "TCP_KEEPIDLE/KEEPINTVL/KEEPCNT" : "net.ipv4.tcp_keepalive_*");
  lab.Observe("keepalive_idle_s", kKeepIdleSeconds);
  lab.Observe("keepalive_interval_s", kKeepIntervalSeconds);
  lab.Observe("keepalive_probes_configured", kKeepProbes);
  lab.Observe("modelled_abort_ms", (kKeepIdleSeconds + kKeepIntervalSeconds * kKeepProbes) * 1000);
  lab.Observe("recv_result", RecvResultName(got));
  lab.Observe("recv_errno", ErrnoName(got.err));
  lab.Observe("ms_keepalive_on_to_error", ms);
  lab.Observe("survivor_state", state);
  lab.Observe("probes_in_pcap", probes);
  lab.Observe("survivor_segments_after_cut", FlagStrings(after_cut));
  lab.Observe("probe_offsets_ms", OffsetsMs(after_cut, keepalive_on_at));
}

TEST_P(Liveness, S4c_sockopt) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, KeepaliveStory(lab, true));
}

TEST_P(Liveness, S4c_sysctl) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, KeepaliveStory(lab, false));
}

// S4d: the cable comes back after two retransmissions, well within the
// default retry budget: the data arrives, the connection lives on.
TEST_P(Liveness, S4d_restored) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, {
    Connection c = ConnectIdleAndCut(lab);
    const auto sent_at = std::chrono::steady_clock::now();
    SendPayload(c);
    AwaitRetransmissions(c, kRetransmissionsBeforeRestore);
    const unsigned retrans_during_cut = TcpInfo(c.client.get()).tcpi_total_retrans;
    const double ms_cut = MillisSince(sent_at);
    lab.Restore();

    size_t received = 0;
    int recv_errno = 0;
    SetIoTimeout(c.server.get(), kIoTimeoutMillis);
    while (received < kPayloadBytes) {
      char buf[4096];
      const ssize_t n = ::recv(c.server.get(), buf, sizeof buf, 0);
      if (n <= 0) {
        recv_errno = n < 0 ? errno : 0;
        break;
      }
      received += static_cast<size_t>(n);
    }
    const double ms_arrival = MillisSince(sent_at);
    const bool acked = WaitFor([&] { return TcpInfo(c.client.get()).tcpi_unacked == 0; }, kDeadline);
    const struct tcp_info info = TcpInfo(c.client.get());
    const int so_error = SocketError(c.client.get());
    Finish(lab, kCutCaptures);

    const auto after_cut = SentBy(lab.ClientSegments(), c.client_end, lab.cut_at());
    int data_segments = 0;
    for (const auto& s : after_cut) data_segments += s.payload > 0;
    lab.Observe("retransmissions_before_restore", static_cast<int>(retrans_during_cut));
    lab.Observe("ms_send_to_restore", ms_cut);
    lab.Observe("ms_send_to_arrival", ms_arrival);
    lab.Observe("bytes_sent", kPayloadBytes);
    lab.Observe("bytes_arrived", received);
    lab.Observe("peer_recv_errno", ErrnoName(recv_errno));
    lab.Observe("data_acked", acked);
    lab.Observe("survivor_state", TcpStateName(info.tcpi_state));
    lab.Observe("survivor_so_error", ErrnoName(so_error));
    lab.Observe("data_segments_in_pcap", data_segments);
    lab.Observe("survivor_segment_offsets_ms", OffsetsMs(after_cut, lab.cut_at()));
  });
}

// S4d: data sent into the cut until TCP_USER_TIMEOUT or tcp_retries2 ends the
// connection; then the cable comes back and the peer, which never noticed
// anything, sends; the survivor no longer has the connection.
void DataTimeoutStory(TwoHostLab& lab, bool user_timeout) {
  if (!user_timeout) lab.Sysctl(lab.client(), "net.ipv4.tcp_retries2", std::to_string(kRetries2));
  Connection c = ConnectIdleAndCut(lab, [&](int fd) {
    if (user_timeout) SetIntOption(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, kUserTimeoutMillis, "TCP_USER_TIMEOUT");
  });
  const auto sent_at = std::chrono::steady_clock::now();
  SendPayload(c);
  const RecvOutcome got = BlockingRecv(c.client.get());
  const double ms = MillisSince(sent_at);
  const std::string state = TcpState(c.client.get());
  lab.Restore();
  const std::string late = "late";
  const ssize_t late_sent = ::send(c.server.get(), late.data(), late.size(), MSG_NOSIGNAL);
  const RecvOutcome peer_got = BlockingRecv(c.server.get());
  Finish(lab, kCutCaptures);

  const auto segments = lab.ClientSegments();
  const auto after_cut = SentBy(segments, c.client_end, lab.cut_at());
  lab.Observe("peer_send_after_restore", late_sent == static_cast<ssize_t>(late.size()));
  lab.Observe("peer_recv_after_restore", RecvResultName(peer_got));
  lab.Observe("peer_recv_errno_after_restore", ErrnoName(peer_got.err));
  lab.Observe("survivor_reply_after_restore", FlagStrings(SentBy(segments, c.client_end, lab.restored_at())));
  int data_segments = 0;
  for (const auto& s : after_cut) data_segments += s.payload > 0;
  ASSERT_GE(data_segments, 1) << "the data segment is not in the survivor's capture";
  lab.Observe("limit", user_timeout ? "TCP_USER_TIMEOUT" : "net.ipv4.tcp_retries2");
  lab.Observe(user_timeout ? "user_timeout_ms" : "tcp_retries2", user_timeout ? kUserTimeoutMillis : kRetries2);
  lab.Observe("recv_result", RecvResultName(got));
  lab.Observe("recv_errno", ErrnoName(got.err));
  lab.Observe("ms_send_to_error", ms);
  lab.Observe("survivor_state", state);
  lab.Observe("retransmissions_in_pcap", data_segments - 1);
  lab.Observe("survivor_segments_after_cut", FlagStrings(after_cut));
  lab.Observe("survivor_segment_offsets_ms", OffsetsMs(after_cut, lab.cut_at()));
}

TEST_P(Liveness, S4d_user_timeout) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, DataTimeoutStory(lab, true));
}

TEST_P(Liveness, S4d_retries2) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, DataTimeoutStory(lab, false));
}

// S4d: while the cable is out the peer loses its state (its socket is reset,
// and the RST is lost in the cut, as in a reboot); when the cable comes back,
// the survivor's next retransmission is answered with an RST.
TEST_P(Liveness, S4d_peer_rst) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, {
    Connection c = ConnectIdleAndCut(lab);
    SendPayload(c);
    AwaitRetransmissions(c, kRetransmissionsBeforeRestore);
    SetAbortiveClose(c.server.get());
    c.server.reset();
    ASSERT_TRUE(lab.cut_to_client()->WaitMatched(1, kDeadline)) << "the peer's RST did not reach the cut";
    const auto restored = std::chrono::steady_clock::now();
    lab.Restore();
    const RecvOutcome got = BlockingRecv(c.client.get());
    const double ms = MillisSince(restored);
    const std::string state = TcpState(c.client.get());
    Finish(lab, kCutCaptures);

    const auto segments = lab.ClientSegments();
    lab.Observe("recv_result", RecvResultName(got));
    lab.Observe("recv_errno", ErrnoName(got.err));
    lab.Observe("ms_restore_to_error", ms);
    lab.Observe("survivor_state", state);
    lab.Observe("peer_segments_after_restore", FlagStrings(SentBy(segments, c.server_end, lab.restored_at())));
    lab.Observe("survivor_segments_after_cut", FlagStrings(SentBy(segments, c.client_end, lab.cut_at())));
  });
}

}  // namespace
}  // namespace tcprepro
