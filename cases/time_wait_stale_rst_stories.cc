// S3c: a stale RST meets a connection that reused a TIME_WAIT 4-tuple
// (tcp_tw_reuse's first hazard).
#include <fcntl.h>
#include <poll.h>

#include <optional>

#include "cases/time_wait.h"

namespace tcprepro {
namespace {

const std::vector<std::string> kRstCounters = {
    "TcpExtTCPChallengeACK", "TcpExtTCPACKSkippedChallenge", "TcpExtPAWSEstab", "TcpExtPAWSOldAck",
    "TcpEstabResets",        "TcpExtTCPSYNChallenge",        "TcpInErrs",       "TcpExtBeyondWindow",
    "TcpOutSegs"};

// With real packets: the server's RST to the client's first SYN is held in the
// network until the reused connection is up.
TEST_P(TimeWaitOverVeth, S3c_held_rst) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, {
    SetClientReuse(lab, "1", /*small_delay=*/true);
    // Only the server's RSTs from the service port: the answer to the SYN.
    Impairment& hold = lab.Impair(lab.server(), {lab.server_link(), Direction::kEgress,
                                                 {family(), kServerPort, std::nullopt, kTcpRst, kTcpRst, 0},
                                                 ImpairAction::Hold()});
    // 1. SYN to a port nobody listens on; the RST is held.
    UniqueFd first;
    {
      const Endpoint service = lab.ServerAt(kServerPort);
      NamespaceGuard inside(lab.client());
      first = TcpSocket(family());
      ::fcntl(first.get(), F_SETFL, O_NONBLOCK);
      ASSERT_EQ(ConnectErrno(first.get(), service), EINPROGRESS);
    }
    ASSERT_TRUE(hold.WaitMatched(1, kEventDeadline)) << "the server's RST never left";
    // 2. The server starts; the client's retransmitted SYN (initial RTO, 1 s) meets it.
    UniqueFd listener = lab.Listen(kServerPort);
    struct pollfd pfd = {first.get(), POLLOUT, 0};
    ASSERT_EQ(::poll(&pfd, 1, 2 * kIoTimeoutMillis), 1) << "the retransmitted SYN never connected";
    const int first_errno = SocketError(first.get());
    ASSERT_EQ(first_errno, 0) << ErrnoName(first_errno);
    ::fcntl(first.get(), F_SETFL, 0);
    SetIoTimeout(first.get(), kIoTimeoutMillis);
    UniqueFd server = Accept(listener.get(), kIoTimeoutMillis);
    ASSERT_TRUE(Echo(first.get(), server.get()));
    // 3. They are done; the client closes first and holds TIME_WAIT.
    ClientActiveClose(lab, first, server);
    // 4. The client reuses the 4-tuple.
    auto [second, server2] = ReuseOrEnd(lab, listener);
    // 5. The network delivers the held RST to the new connection.
    const CounterSnapshot before = lab.Counters(lab.client());
    const double released_at = EpochSeconds();
    hold.Release();
    ASSERT_TRUE(WaitFor([&] { return lab.Counters(lab.client()).get("TcpInSegs") > before.get("TcpInSegs"); },
                        kEventDeadline))
        << "the released RST never reached the client";
    // Whatever the client answers (a challenge ACK) goes out in the same softirq;
    // the echo below is the synchronisation point.
    const std::string state_after = TcpState(second.get());
    const int error_after = SocketError(second.get());
    const bool alive = Echo(second.get(), server2.get());
    lab.ObserveDeltas("client_", lab.client(), before, kRstCounters);
    lab.Observe("held_rsts", hold.impaired());
    lab.StopCaptures("the held RST, the SYN retransmission that connects, the close, the reused connection and the "
                     "RST's late arrival");
    lab.Observe("client_state_after_release", state_after);
    lab.Observe("client_so_error_after_release", ErrnoName(error_after));
    lab.Observe("new_connection_survives", alive);

    // From the client's capture: the held RST and the new connection's window.
    const auto flow = StoryFlow(lab.ClientSegments());
    const auto isns = ClientIsns(flow);
    int syns_first = 0;
    std::optional<TcpSegment> late_rst, synack2;
    std::vector<std::string> after_release;
    bool answer_done = false;
    for (const auto& s : flow) {
      if (FromClient(s) && s.syn() && !isns.empty() && s.seq == isns[0]) ++syns_first;
      if (!FromClient(s) && s.syn() && s.has_ack() && isns.size() >= 2 && s.ack == isns[1] + 1) synack2 = s;
      if (s.time < released_at || answer_done) continue;
      if (late_rst && (s.payload > 0 || after_release.size() >= 3)) {
        answer_done = true;  // the echo started: what came before it answered the RST
      } else if (late_rst && FromClient(s)) {
        after_release.push_back(Labelled(s));
      } else if (!FromClient(s) && s.rst() && !late_rst) {
        late_rst = s;
      }
    }
    lab.Observe("first_connection_syns", syns_first);
    if (late_rst) {
      lab.Observe("stale_rst_flags", late_rst->flag_string());
      lab.Observe("stale_rst_seq", late_rst->seq);
      lab.Observe("stale_rst_has_timestamp", late_rst->ts_val.has_value());
      if (synack2) {
        // Where the RST's seq falls relative to the new connection's rcv_nxt (no data came from the server yet).
        const int64_t offset = static_cast<int32_t>(late_rst->seq - (synack2->seq + 1));
        lab.Observe("stale_rst_seq_minus_rcv_nxt", offset);
        lab.Observe("stale_rst_seq_is_rcv_nxt", offset == 0);
      }
    }
    lab.Observe("client_answer_to_stale_rst", after_release);
  });
}

// Deterministic: on a reused 4-tuple, segments crafted with a stale timestamp
// and exact sequence numbers show the code path in tcp_validate_incoming()
// ("Reset is accepted even if it did not pass PAWS").
TEST_P(TimeWaitOverVeth, S3c_crafted_rst) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, {
    SetClientReuse(lab, "1", /*small_delay=*/true);
    // No per-socket rate limit between the answers to the crafted segments.
    lab.Sysctl(lab.client(), "net.ipv4.tcp_invalid_ratelimit", "0");
    UniqueFd listener = lab.Listen(kServerPort);
    UniqueFd first = lab.Connect(kServerPort, kIoTimeoutMillis);
    UniqueFd server = Accept(listener.get(), kIoTimeoutMillis);
    ASSERT_TRUE(Echo(first.get(), server.get()));
    ClientActiveClose(lab, first, server);
    auto [client, server2] = ReuseOrEnd(lab, listener);
    ASSERT_TRUE(Echo(client.get(), server2.get()));

    // What the client expects next, and a timestamp ten minutes older than the server's clock.
    const uint32_t rcv_nxt = SendSequence(server2.get());
    const uint32_t snd_nxt = ReceiveSequence(server2.get());
    const uint32_t stale_ts = CurrentTsVal(server2.get()) - 600000;
    CraftedSegment segment{lab.ServerAt(kServerPort), lab.ClientAt(kClientPort), rcv_nxt, snd_nxt, 0, 502, stale_ts, 0};
    // Sends one crafted segment and waits until the client has counted it, and
    // (briefly) until one of `answer_counters` moved.
    auto send_and_settle = [&](const std::string& step, const std::vector<std::string>& answer_counters) {
      const CounterSnapshot before = lab.Counters(lab.client());
      lab.Craft(lab.server(), segment);
      EXPECT_TRUE(WaitFor([&] { return lab.Counters(lab.client()).get("TcpInSegs") > before.get("TcpInSegs"); },
                          kEventDeadline))
          << step << ": the crafted segment never arrived";
      // The answer, if any, is counted in the same softirq; a short bounded
      // wait for it covers a receive still running on another CPU.
      WaitFor([&] {
        const CounterSnapshot now = lab.Counters(lab.client());
        for (const auto& name : answer_counters) {
          if (before.has(name) && now.get(name) > before.get(name)) return true;
        }
        return false;
      }, 500ms);
      lab.ObserveDeltas(step + "_", lab.client(), before, kRstCounters);
      lab.Observe(step + "_client_state", TcpState(client.get()));
    };
    // 1. A pure ACK with the stale timestamp at rcv_nxt: PAWS rejects it.
    segment.flags = kTcpAck;
    send_and_settle("stale_ack", {"TcpExtPAWSEstab", "TcpExtPAWSOldAck"});
    // 1b. The same one byte below rcv_nxt: an "old ACK" (v6.14 counts it apart and sends no dupack).
    segment.seq = rcv_nxt - 1;
    send_and_settle("stale_old_ack", {"TcpExtPAWSEstab", "TcpExtPAWSOldAck"});
    // 2. An RST with the stale timestamp, in window but one past rcv_nxt: RFC 5961 challenge ACK.
    segment.flags = kTcpRst;
    segment.seq = rcv_nxt + 1;
    segment.ack = 0;
    send_and_settle("stale_rst_in_window", {"TcpExtTCPChallengeACK"});
    lab.Observe("alive_after_in_window_rst", Echo(client.get(), server2.get()));
    // 3. The same RST at exactly rcv_nxt (recomputed: the echo moved it).
    segment.seq = SendSequence(server2.get());
    send_and_settle("stale_rst_exact", {"TcpEstabResets"});
    WaitFor([&] { return TcpState(client.get()) == "CLOSE"; }, 1s);
    lab.Observe("exact_rst_client_state", TcpState(client.get()));
    lab.Observe("exact_rst_client_so_error", ErrnoName(SocketError(client.get())));
    lab.Observe("stale_ts_age_ms", 600000);
    lab.StopCaptures("the first connection, its close, the reused connection and the crafted segments (ACK, "
                     "in-window RST, exact RST, all with a stale timestamp)");
  });
}

}  // namespace
}  // namespace tcprepro
