// Hand-made TCP segments, and the sequence state a crafted segment must match.
//
// SendCraftedSegment() puts one TCP segment on the wire from a lab namespace
// through a raw socket: any addresses, sequence numbers, flags and an optional
// timestamp option. It is how a scenario plays "an old packet that the network
// held back": an RST with an exact in-window sequence number and a stale
// timestamp, deterministically, where a held-back real packet would match
// only by chance. The checksum is computed here (pseudo-header included), for
// IPv4 and IPv6; the kernel builds the IP header.
//
// SendSequence() and ReceiveSequence() read a connected socket's snd_nxt and
// rcv_nxt through TCP_REPAIR (CAP_NET_ADMIN in the socket's namespace), then
// leave repair mode without a window probe, so the connection sends nothing.
#pragma once

#include <cstdint>
#include <optional>

#include "netns/namespace.h"
#include "netns/socket.h"

namespace tcprepro {

struct CraftedSegment {
  Endpoint src, dst;  // same family; src must be an address of the sending namespace
  uint32_t seq = 0, ack = 0;
  uint8_t flags = 0;  // kTcpRst, kTcpAck, ... (netns/impairment.h)
  uint16_t window = 0;
  std::optional<uint32_t> ts_val, ts_ecr;  // the timestamp option (RFC 7323) if ts_val is set
};

// Sends `segment` from `ns`. Refuses the host; throws LabError if the raw
// socket cannot be made or the send fails.
void SendCraftedSegment(const NetNamespace& ns, const CraftedSegment& segment);

// The next sequence number `fd` will send (write_seq; snd_nxt when nothing is queued).
uint32_t SendSequence(int fd);
// The next sequence number `fd` expects to receive (rcv_nxt).
uint32_t ReceiveSequence(int fd);
// The TSval `fd` would put in a segment now (TCP_TIMESTAMP: clock plus the connection's offset).
uint32_t CurrentTsVal(int fd);

}  // namespace tcprepro
