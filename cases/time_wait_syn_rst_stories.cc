// S3e / S3f: the server holds the TIME_WAIT (it closed first) and a segment
// for that 4-tuple arrives: a new SYN, an old SYN, an RST. Segments only an
// old network could deliver (a SYN below the TIME_WAIT's rcv_nxt, an RST at
// exactly rcv_nxt) are crafted from the client's namespace, where no socket
// owns the 4-tuple any more.
#include "cases/time_wait.h"

namespace tcprepro {
namespace {

const std::vector<std::string> kTimeWaitCounters = {"TcpExtTW", "TcpExtTWKilled", "TcpExtTCPACKSkippedTimeWait",
                                                    "TcpExtPAWSTimewait", "TcpEstabResets"};

struct ServerTimeWait {
  UniqueFd listener;
  uint32_t tw_rcv_nxt = 0;  // the client's FIN + 1
  uint32_t tw_snd_nxt = 0;  // the server's FIN + 1
};

// A client socket bound to kClientPort (SO_REUSEADDR: the 4-tuple may be in TIME_WAIT on the server).
UniqueFd ClientOnItsPort(TwoHostLab& lab) {
  UniqueFd client = TcpSocket(lab.family());
  SetReuseAddr(client.get());
  SetIoTimeout(client.get(), kIoTimeoutMillis);
  if (int err = BindErrno(client.get(), lab.ClientAt(kClientPort))) throw LabError("bind client: " + ErrnoName(err));
  return client;
}

// The client connects from kClientPort, they talk, the server closes first:
// the server's side of the 4-tuple ends in TIME_WAIT, the client's socket is
// gone (it closed passively).
ServerTimeWait ServerActiveClose(TwoHostLab& lab) {
  ServerTimeWait out;
  out.listener = lab.Listen(kServerPort);
  UniqueFd client;
  {
    const Endpoint service = lab.ServerAt(kServerPort);
    NamespaceGuard inside(lab.client());
    client = ClientOnItsPort(lab);
    if (int err = ConnectErrno(client.get(), service)) throw LabError("connect: " + ErrnoName(err));
  }
  UniqueFd server = Accept(out.listener.get(), kIoTimeoutMillis);
  if (!Echo(client.get(), server.get())) throw LabError("echo on the first connection failed");
  out.tw_rcv_nxt = ReceiveSequence(server.get()) + 1;
  out.tw_snd_nxt = SendSequence(server.get()) + 1;
  server.reset();
  char byte;
  if (::recv(client.get(), &byte, 1, 0) != 0) throw LabError("the client did not read EOF");
  client.reset();
  auto state = [&](const NetNamespace& ns, uint16_t local, uint16_t remote) {
    return TcpTableState(ns, lab.family(), local, remote);
  };
  if (!WaitFor([&] { return state(lab.server(), kServerPort, kClientPort) == "TIME_WAIT"; }, kEventDeadline) ||
      !WaitFor([&] { return !state(lab.client(), kClientPort, kServerPort); }, kEventDeadline)) {
    throw LabError("the server never reached TIME_WAIT, or the client's socket never went away");
  }
  return out;
}

// Crafts `segment` from the client's namespace and waits until the server's
// namespace has received `segments` more (the crafted one and the client
// kernel's answers to the server's replies).
void SendToTimeWait(TwoHostLab& lab, const CraftedSegment& segment, int64_t segments) {
  const int64_t before = lab.Counters(lab.server()).get("TcpInSegs");
  lab.Craft(lab.client(), segment);
  if (!WaitFor([&] { return lab.Counters(lab.server()).get("TcpInSegs") >= before + segments; }, kEventDeadline)) {
    throw LabError("the server's namespace did not receive the expected " + std::to_string(segments) + " segments");
  }
}

bool ServerStillInTimeWait(TwoHostLab& lab) {
  auto state = [&] { return TcpTableState(lab.server(), lab.family(), kServerPort, kClientPort); };
  // An RST that kills the TIME_WAIT does so in the softirq that counted it;
  // the bound covers a receive still running on another CPU.
  WaitFor([&] { return state() != "TIME_WAIT"; }, 500ms);
  return state() == "TIME_WAIT";
}

// The server's capture of the 4-tuple from `since` on.
std::vector<TcpSegment> ServerSawSince(TwoHostLab& lab, double since) {
  std::vector<TcpSegment> out;
  for (const auto& s : StoryFlow(lab.ServerSegments())) {
    if (s.time >= since) out.push_back(s);
  }
  return out;
}

std::vector<std::string> LabelledHead(const std::vector<TcpSegment>& segments, size_t most) {
  std::vector<std::string> out;
  for (size_t i = 0; i < segments.size() && i < most; ++i) out.push_back(Labelled(segments[i]));
  return out;
}

// S3e, valid SYN: the client comes back from the same port with timestamps on.
TEST_P(TimeWaitOverVeth, S3e_valid_syn) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, {
    ServerTimeWait tw = ServerActiveClose(lab);
    const CounterSnapshot before = lab.Counters(lab.server());
    const double since = EpochSeconds();
    int connect_errno;
    double connect_ms;
    UniqueFd client;
    {
      const Endpoint service = lab.ServerAt(kServerPort);
      NamespaceGuard inside(lab.client());
      client = ClientOnItsPort(lab);
      const auto start = Clock::now();
      connect_errno = ConnectErrno(client.get(), service);
      connect_ms = MillisSince(start);
    }
    bool echo = false;
    if (connect_errno == 0) {
      UniqueFd server = Accept(tw.listener.get(), kIoTimeoutMillis);
      echo = Echo(client.get(), server.get());
    }
    lab.ObserveDeltas("server_", lab.server(), before, kTimeWaitCounters);
    lab.StopCaptures("the first connection closed by the server, and the client's new SYN from the same port that "
                     "the server's TIME_WAIT accepts");
    lab.Observe("connect_errno", ErrnoName(connect_errno));
    lab.Observe("connect_ms", connect_ms);
    lab.Observe("new_connection_echo", echo);
    const auto seen = ServerSawSince(lab, since);
    lab.Observe("exchange", LabelledHead(seen, 3));
    for (const auto& s : seen) {
      if (!FromClient(s) && s.syn() && s.has_ack()) {
        lab.Observe("synack_isn_minus_tw_snd_nxt", static_cast<int64_t>(s.seq - tw.tw_snd_nxt));
        lab.Observe("synack_isn_from_time_wait", s.seq == tw.tw_snd_nxt + 65537);
        break;
      }
    }
  });
}

// S3e, invalid SYN: an old sequence number and no timestamp.
TEST_P(TimeWaitOverVeth, S3e_old_syn) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, {
    lab.Sysctl(lab.server(), "net.ipv4.tcp_rfc1337", "0");
    ServerTimeWait tw = ServerActiveClose(lab);
    const CounterSnapshot before = lab.Counters(lab.server());
    const double since = EpochSeconds();
    // SYN below tw_rcv_nxt: the TIME_WAIT answers with an ACK (seq tw_snd_nxt,
    // ack tw_rcv_nxt); the client's kernel answers that ACK with an RST.
    SendToTimeWait(lab, {lab.ClientAt(kClientPort), lab.ServerAt(kServerPort), tw.tw_rcv_nxt - 100000, 0, kTcpSyn,
                         64240, std::nullopt, std::nullopt},
                   2);
    const bool still = ServerStillInTimeWait(lab);
    lab.ObserveDeltas("server_", lab.server(), before, kTimeWaitCounters);
    lab.StopCaptures("the first connection closed by the server, a crafted old SYN on its 4-tuple, the TIME_WAIT's "
                     "ACK and the client kernel's RST");
    lab.Observe("time_wait_after", still);
    const auto seen = ServerSawSince(lab, since);
    lab.Observe("exchange", LabelledHead(seen, 4));
    for (const auto& s : seen) {
      if (!FromClient(s) && !s.syn()) {
        lab.Observe("tw_ack_matches_tw_state", s.seq == tw.tw_snd_nxt && s.ack == tw.tw_rcv_nxt);
        break;
      }
    }
  });
}

// S3f: TIME_WAIT assassination (RFC 1337) — an RST at exactly tw_rcv_nxt.
void AssassinationStory(TwoHostLab& lab, const std::string& rfc1337) {
  lab.Sysctl(lab.server(), "net.ipv4.tcp_rfc1337", rfc1337);
  ServerTimeWait tw = ServerActiveClose(lab);
  const CounterSnapshot before = lab.Counters(lab.server());
  const double since = EpochSeconds();
  SendToTimeWait(lab, {lab.ClientAt(kClientPort), lab.ServerAt(kServerPort), tw.tw_rcv_nxt, 0, kTcpRst, 0,
                       std::nullopt, std::nullopt},
                 1);
  const bool still = ServerStillInTimeWait(lab);
  lab.ObserveDeltas("server_", lab.server(), before, kTimeWaitCounters);
  lab.StopCaptures("the first connection closed by the server and a crafted RST at the TIME_WAIT's rcv_nxt");
  lab.Observe("time_wait_after_rst", still);
  lab.Observe("exchange", LabelledHead(ServerSawSince(lab, since), 3));
}

TEST_P(TimeWaitOverVeth, S3f_rfc1337_0) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, AssassinationStory(lab, "0"));
}

TEST_P(TimeWaitOverVeth, S3f_rfc1337_1) {
  TwoHostLab& lab = NewLab();
  TCPREPRO_STORY(lab, AssassinationStory(lab, "1"));
}

}  // namespace
}  // namespace tcprepro
