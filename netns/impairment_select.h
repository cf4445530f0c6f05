// Inside Impair(): the backends' entry points and how selection asks them.
// Not for scenarios: they call Impair() and read Impairment::backend().
//
// Each backend answers CanExpress() before anything is installed, so that
// selection can fall back and a forced backend can skip with a reason:
//
//   rule                 netem (tc)                        nfqueue
//   delay, drop, share   netem on a prio band              holder thread
//   hold until Release   sch_plug (netem itself cannot:    holder thread
//                        `tc qdisc change ... delay 0`
//                        leaves queued packets at their
//                        old time, checked on 6.1)
//   ingress              ifb + mirred redirect             PREROUTING
//   only the n-th match  no: tc cannot count (gact         holder counts
//                        `random determ` and netem `gap`
//                        repeat every n-th)
//   two rules on one     no (one prio root per link and    yes
//   link and direction   direction)
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "netns/impairment.h"

namespace tcprepro::impairment_internal {

// "SYN,ACK" for SYN|ACK, "NONE" for 0 (iptables' spelling).
std::string FlagNames(uint8_t flags);

// nfqueue expresses every valid rule; installing throws Unsupported when the
// kernel or iptables lacks NFQUEUE.
std::unique_ptr<Impairment> InstallNfqueue(const NetNamespace& ns, const ImpairmentRule& rule);

// False, with `why` ("netem backend: ..."), when this kernel lacks a piece the
// rule needs (probed once per process in a throwaway namespace) or tc cannot
// express it. Refuses the host like installing does.
bool NetemCanExpress(const NetNamespace& ns, const ImpairmentRule& rule, std::string& why);
std::unique_ptr<Impairment> InstallNetem(const NetNamespace& ns, const ImpairmentRule& rule);

}  // namespace tcprepro::impairment_internal
