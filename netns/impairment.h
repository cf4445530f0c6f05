// Impairments on chosen packets: hold back that RST, drop the n-th data
// segment, delay every SYN by 50 ms, lose a share of packets.
//
// A rule says where (a link in a lab namespace, and a direction), which
// packets (family, ports, TCP flags, every match or only the n-th) and what
// (delay, drop, drop a share, hold until Release()). Impair() installs it and
// returns its owner; the rule is removed, and anything it still holds is
// delivered, when the owner ends. Rules can come and go while a story runs.
//
// Backends, both real kernel mechanisms (impairment_select.h says which
// rules each can express, and why):
//  - netem: tc in the namespace. A prio root qdisc sends everything to band 1;
//    a u32 filter on family, ports and TCP flag byte steers matches to band 3,
//    where netem delays or loses them, or sch_plug holds them until Release().
//    Ingress goes through an ifb device. tc cannot count, so no "n-th match".
//  - nfqueue: an iptables NFQUEUE rule sends the matches to a user-space
//    holder (libnetfilter_queue) that accepts, delays, drops or holds each one.
//    Expresses every rule; runs on kernels without sch_netem (this project's
//    own machines).
// Impair() picks netem when the kernel has it and it can express the rule,
// nfqueue otherwise; $TCPREPRO_IMPAIRMENT_BACKEND (auto|netem|nfqueue) forces one.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "netns/namespace.h"
#include "netns/pcap_reader.h"
#include "netns/socket.h"

namespace tcprepro {

enum class Direction {
  kEgress,   // leaving the namespace through the link (after routing, just before the wire)
  kIngress,  // arriving through the link (before routing)
};

// TCP flag bits, as in the TCP header.
inline constexpr uint8_t kTcpFin = 0x01, kTcpSyn = 0x02, kTcpRst = 0x04, kTcpPsh = 0x08, kTcpAck = 0x10;

struct PacketMatch {
  Family family = Family::kIpv4;
  std::optional<uint16_t> sport, dport;
  uint8_t flags_mask = 0;  // TCP flags to look at...
  uint8_t flags_set = 0;   // ...and which of those must be set
  int nth = 0;             // 0: every match; n >= 1: only the n-th match is impaired

  std::string Describe() const;
};

struct ImpairAction {
  enum class Kind { kDelay, kDrop, kDropShare, kHold };
  Kind kind = Kind::kDrop;
  std::chrono::microseconds delay{0};  // kDelay
  double share = 0;                    // kDropShare: probability of dropping each match

  static ImpairAction Delay(std::chrono::microseconds d) { return {Kind::kDelay, d, 0}; }
  static ImpairAction Drop() { return {Kind::kDrop, {}, 0}; }
  static ImpairAction DropShare(double p) { return {Kind::kDropShare, {}, p}; }
  static ImpairAction Hold() { return {Kind::kHold, {}, 0}; }
};

struct ImpairmentRule {
  std::string link;  // interface in the namespace ("lo" works too)
  Direction direction = Direction::kEgress;
  PacketMatch match;
  ImpairAction action;
};

// A packet a rule acted on, as the rule saw it (its headers; `time` when it
// acted): the lab's own record for marking the packet in a ladder.
struct ImpairedPacket {
  TcpSegment segment;
  std::string action;  // "held", "dropped", "delayed"
};

class Impairment {
 public:
  virtual ~Impairment() = default;
  // Delivers every held packet now; later matches pass untouched.
  virtual void Release() = 0;
  // Packets the rule matched, and those it delayed, dropped or held.
  virtual uint64_t matched() const = 0;
  virtual uint64_t impaired() const = 0;
  // Waits until `count` packets have matched; false at the deadline.
  virtual bool WaitMatched(uint64_t count, std::chrono::milliseconds deadline) const = 0;
  // "netem" or "nfqueue": recorded with every result that used an impairment.
  virtual std::string backend() const = 0;
  // Whether acted_on() lists packets: nfqueue sees each one; tc (netem, plug) does not.
  virtual bool records_packets() const { return false; }
  // The packets delayed, dropped or held so far, in order.
  virtual std::vector<ImpairedPacket> acted_on() const { return {}; }
};

enum class ImpairmentBackend { kAuto, kNetem, kNfqueue };

// "auto", "netem", "nfqueue".
std::string BackendName(ImpairmentBackend backend);

// $TCPREPRO_IMPAIRMENT_BACKEND: auto (also when unset or empty), netem or
// nfqueue. Throws LabError naming the variable and the choices otherwise.
ImpairmentBackend ImpairmentBackendFromEnvironment();

// Installs `rule` in `ns` with the backend the environment asks for. Throws
// Unsupported (the reason starts with the backend's name) when no allowed
// backend can express it on this kernel, LabError when installing fails, and
// refuses the host.
std::unique_ptr<Impairment> Impair(const NetNamespace& ns, const ImpairmentRule& rule);
// The same with the backend given (kAuto: netem if it can, else nfqueue).
std::unique_ptr<Impairment> Impair(const NetNamespace& ns, const ImpairmentRule& rule, ImpairmentBackend backend);

}  // namespace tcprepro
