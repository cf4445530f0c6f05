// S4. Liveness: what the story files of the family share.
//
// What a TCP endpoint (the survivor, here the client) notices when its peer
// goes away: a crashed process (its kernel closes the socket: FIN, or RST with
// unread data), a pulled cable on an idle connection (nothing, unless
// keepalive), a pulled cable with data in flight (retransmissions until
// TCP_USER_TIMEOUT or tcp_retries2, or survival if the cable comes back), and a
// peer that lost its state meanwhile (RST).
//
// The lab's veth, both namespaces captured; a cut is the lab's Cut() (drops at
// the server's end, so every packet the client sends stays in the client's
// capture). Waits come from the protocol made short (TCP_KEEPIDLE/INTVL/CNT or
// the keepalive sysctls, TCP_USER_TIMEOUT, tcp_retries2), each bounded by a
// deadline; the only fixed wait is S4b's observation window, which is the
// observation itself. harness/scenarios/liveness.toml judges the kernel.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "cases/story.h"

namespace tcprepro {

inline constexpr uint16_t kServerPort = 40500;
inline constexpr size_t kPayloadBytes = 1000;
// Bounds for anything that waits on the kernel: generous, for QEMU under TCG.
inline constexpr auto kDeadline = std::chrono::seconds(15);
inline constexpr int kIoTimeoutMillis = 20000;

class Liveness : public LabStory {};

struct Connection {
  UniqueFd client, server;
  Endpoint client_end, server_end;
};

// A connection from client to server; `before_connect` sets client options.
Connection Connect(TwoHostLab& lab, const std::function<void(int)>& before_connect = {});

// Client -> server "hello", then waits until the client has its ACK: after
// this neither side owes the other a segment, so anything the client sends
// later is caused by what the story does next.
void Exchange(const Connection& c);

// The opening of the cut stories: connect, exchange until idle, cut (observed as "cut").
Connection ConnectIdleAndCut(TwoHostLab& lab, const std::function<void(int)>& before_connect = {});

// The client sends kPayloadBytes (into the cut, in the S4d stories).
void SendPayload(const Connection& c);

// Waits until the client has retransmitted `count` times (tcpi_total_retrans; a tail loss probe counts).
void AwaitRetransmissions(const Connection& c, unsigned count);

struct RecvOutcome {
  ssize_t result = 0;  // bytes, 0 for EOF, -1 for an error
  int err = 0;
  double elapsed_ms = 0;
};
// One blocking recv() (bounded by SO_RCVTIMEO): EOF, data or the error the connection ended with.
RecvOutcome BlockingRecv(int fd);
// "eof", "data", "error".
std::string RecvResultName(const RecvOutcome& r);

// Stops the captures and observes how many packets the cut dropped.
void Finish(TwoHostLab& lab, const std::string& what);

// Offsets in ms of each segment from `origin` (seconds since the epoch).
std::vector<long> OffsetsMs(const std::vector<TcpSegment>& segments, double origin);

}  // namespace tcprepro
