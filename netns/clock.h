// Time as the lab measures it: wall-clock seconds (comparable with pcap
// timestamps), elapsed milliseconds, and polling kernel state with a deadline.
#pragma once

#include <chrono>
#include <functional>

namespace tcprepro {

// Seconds since the epoch, as pcap timestamps count them.
double EpochSeconds();

double MillisSince(std::chrono::steady_clock::time_point start);

// Polls `done` every 2 ms until it holds or `deadline` passes; returns whether it
// held. For kernel state no event announces (a socket reaching TIME_WAIT, a
// retransmission counted): the protocol sets the pace, the deadline bounds a hang.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds deadline);

}  // namespace tcprepro
