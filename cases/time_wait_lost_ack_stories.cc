// S3d: the client's final ACK of a close is lost, so the server stays in
// LAST_ACK (tcp_tw_reuse's second hazard when the 4-tuple comes back).
#include <optional>

#include "cases/time_wait.h"
#include "netns/command.h"

namespace tcprepro {
namespace {

// The server's RTO floor in S3d-reuse (a route metric): its FIN retransmission
// must not reach the client's TIME_WAIT before the reconnect, which may wait
// up to a second for the reuse delay.
constexpr const char* kServerRtoMin = "4s";

const std::vector<std::string> kLastAckCounters = {"TcpExtTCPSYNChallenge", "TcpExtTCPChallengeACK",
                                                   "TcpExtTCPACKSkippedChallenge", "TcpExtPAWSEstab",
                                                   "TcpEstabResets", "TcpRetransSegs"};

struct LostAckSetup {
  Impairment* drop = nullptr;
  UniqueFd listener, server;
};

// Connects, exchanges, installs the drop of the client's first pure ACK from
// now on (the final ACK of the close), and closes: the client FIN first, the
// server answers with shutdown(SHUT_WR) so its socket stays observable.
LostAckSetup CloseLosingFinalAck(TwoHostLab& lab) {
  LostAckSetup out;
  out.listener = lab.Listen(kServerPort);
  UniqueFd client = lab.Connect(kServerPort, kIoTimeoutMillis);
  out.server = Accept(out.listener.get(), kIoTimeoutMillis);
  if (!Echo(client.get(), out.server.get())) throw LabError("echo on the first connection failed");
  // A last one-way message carries the client's ACK of the echo, so no
  // delayed pure ACK is pending when the rule starts counting.
  const std::string bye = "bye";
  char buf[8];
  if (::send(client.get(), bye.data(), bye.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(bye.size()) ||
      ::recv(out.server.get(), buf, bye.size(), MSG_WAITALL) != static_cast<ssize_t>(bye.size())) {
    throw LabError("the last message of the first connection failed");
  }
  out.drop = &lab.Impair(lab.client(), {lab.client_link(), Direction::kEgress,
                                        {lab.family(), kClientPort, kServerPort,
                                         kTcpSyn | kTcpFin | kTcpRst | kTcpPsh | kTcpAck, kTcpAck, 1},
                                        ImpairAction::Drop()});
  client.reset();
  char byte;
  if (::recv(out.server.get(), &byte, 1, 0) != 0) throw LabError("the server did not read EOF");
  ::shutdown(out.server.get(), SHUT_WR);
  if (!out.drop->WaitMatched(1, kEventDeadline)) throw LabError("the client's final ACK never left");
  if (!WaitFor([&] { return TcpTableState(lab.client(), lab.family(), kClientPort, kServerPort) == "TIME_WAIT"; },
               kEventDeadline)) {
    throw LabError("the client never reached TIME_WAIT");
  }
  return out;
}

// Without reuse: the server retransmits its FIN and the client's TIME_WAIT answers.
TEST_P(TimeWaitOverVeth, S3d_time_wait) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, {
    // No reuse: the one-port range only pins the client's port for the drop rule.
    SetClientReuse(lab, "0", /*small_delay=*/false);
    const CounterSnapshot before = lab.Counters(lab.server());
    LostAckSetup setup = CloseLosingFinalAck(lab);
    const std::string state_after_drop = TcpState(setup.server.get());
    const auto start = Clock::now();
    const bool closed = WaitFor([&] { return TcpState(setup.server.get()) == "CLOSE"; }, kEventDeadline);
    lab.Observe("server_state_after_lost_ack", state_after_drop);
    lab.Observe("server_closed", closed);
    lab.Observe("server_close_wait_ms", MillisSince(start));
    lab.Observe("server_end_state", TcpState(setup.server.get()));
    lab.Observe("server_so_error", ErrnoName(SocketError(setup.server.get())));
    lab.Observe("dropped_acks", setup.drop->impaired());
    lab.ObserveDeltas("server_", lab.server(), before, kLastAckCounters);
    lab.StopCaptures("the connection, the close whose final ACK is dropped at the client's egress, the "
                     "retransmitted FIN and the TIME_WAIT's answer");
    int server_fins = 0;
    bool acked_after_retransmission = false;  // a client ACK after the server's second FIN
    std::vector<std::string> close_exchange;
    bool closing = false;
    for (const auto& s : StoryFlow(lab.ServerSegments())) {
      closing = closing || s.fin();
      if (closing) close_exchange.push_back(Labelled(s));
      if (!FromClient(s) && s.fin()) ++server_fins;
      if (server_fins >= 2 && FromClient(s) && s.flags == kTcpAck) acked_after_retransmission = true;
    }
    lab.Observe("server_fins_sent", server_fins);
    lab.Observe("time_wait_acked_retransmitted_fin", acked_after_retransmission);
    lab.Observe("close_exchange_at_server", close_exchange);
  });
}

// With tcp_tw_reuse: the client reconnects on the 4-tuple while the server is
// still in LAST_ACK.
TEST_P(TimeWaitOverVeth, S3d_reuse) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, {
    SetClientReuse(lab, "1", /*small_delay=*/true);
    // Keep the server's FIN retransmission away from the client's TIME_WAIT
    // until the reconnect (rto_min on the server's route to the client).
    const std::string host_route = lab.ClientAt(0).ip + (family() == Family::kIpv4 ? "/32" : "/128");
    CheckedRunIn(lab.server(), {"ip", family() == Family::kIpv4 ? "-4" : "-6", "route", "add", host_route, "dev",
                                lab.server_link(), "rto_min", kServerRtoMin});
    lab.Observe("server_route_rto_min", kServerRtoMin);
    const CounterSnapshot server_before = lab.Counters(lab.server());
    const CounterSnapshot client_before = lab.Counters(lab.client());
    LostAckSetup setup = CloseLosingFinalAck(lab);
    const auto in_time_wait = Clock::now();
    const double reconnect_at = EpochSeconds();
    Reconnect again = ReconnectUntilReuse(lab, in_time_wait, kReuseDeadline, &setup.server);
    lab.Observe("reconnect_errno", ErrnoName(again.err));
    lab.Observe("reuse_wait_ms", again.wait_ms);
    lab.Observe("server_state_at_reconnect", again.server_state);
    lab.Observe("reconnect_connect_ms", again.connect_ms);
    lab.Observe("reused", again.err != EADDRNOTAVAIL);
    if (again.err == EADDRNOTAVAIL) {
      throw StoryEnds("tcp_tw_reuse=1 did not let the client reuse its TIME_WAIT 4-tuple within " +
                      std::to_string(std::chrono::milliseconds(kReuseDeadline).count()) + " ms");
    }
    WaitFor([&] { return TcpState(setup.server.get()) == "CLOSE"; }, 2s);
    lab.Observe("server_end_state", TcpState(setup.server.get()));
    lab.Observe("server_so_error", ErrnoName(SocketError(setup.server.get())));
    bool accepted_new = false, echo = false;
    if (again.err == 0) {
      UniqueFd server2 = Accept(setup.listener.get(), kIoTimeoutMillis);
      accepted_new = true;
      echo = Echo(again.fd.get(), server2.get());
    }
    lab.Observe("new_connection_accepted", accepted_new);
    lab.Observe("new_connection_echo", echo);
    lab.ObserveDeltas("server_", lab.server(), server_before, kLastAckCounters);
    lab.ObserveDeltas("client_", lab.client(), client_before, {"TcpOutRsts"});
    lab.StopCaptures("the close whose final ACK is dropped, the reconnect on the same 4-tuple while the server is in "
                     "LAST_ACK, and how that LAST_ACK ends");

    // The exchange on the 4-tuple from the reconnect's first SYN to the
    // handshake's final ACK, as the server saw it.
    std::vector<std::string> exchange;
    std::optional<double> first_syn, last_syn;
    int fins_before_reconnect = 0;
    bool synack_seen = false;
    for (const auto& s : StoryFlow(lab.ServerSegments())) {
      if (s.time < reconnect_at) {
        if (!FromClient(s) && s.fin()) ++fins_before_reconnect;
        continue;
      }
      if (!first_syn && !(FromClient(s) && s.syn())) continue;
      if (FromClient(s) && s.syn()) {
        if (!first_syn) first_syn = s.time;
        last_syn = s.time;
      }
      exchange.push_back(Labelled(s));
      if (!FromClient(s) && s.syn() && s.has_ack()) synack_seen = true;
      if ((synack_seen && FromClient(s) && !s.syn()) || exchange.size() >= 12) break;
    }
    lab.Observe("server_fins_before_reconnect", fins_before_reconnect);
    lab.Observe("reconnect_exchange", exchange);
    if (first_syn && last_syn) lab.Observe("syn_resend_after_ms", (*last_syn - *first_syn) * 1000.0);
  });
}

}  // namespace
}  // namespace tcprepro
