// Shared by the case programs: where a test's evidence goes, and how a kernel
// that lacks a feature turns into a skip with its reason.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

#include "netns/error.h"

namespace tcprepro {

// $TCPREPRO_EVIDENCE_DIR when the harness runs one test per process;
// else <root>/<Suite.Test_param>, where root is $TCPREPRO_EVIDENCE_ROOT (the
// harness runs several tests in one process) or evidence/ in the working
// directory (a case program run by hand).
std::filesystem::path EvidenceDirForCurrentTest();

// Polls `done` every 2 ms until it holds or `deadline` passes; returns whether it
// held. For kernel state no event announces (a socket reaching TIME_WAIT, a
// retransmission counted): the protocol sets the pace, the deadline bounds a hang.
bool WaitFor(const std::function<bool()>& done, std::chrono::milliseconds deadline);

double MillisSince(std::chrono::steady_clock::time_point start);

}  // namespace tcprepro

// Runs a story; a tcprepro::Unsupported thrown inside skips the test with its
// reason instead of failing it. Any other exception fails it as usual.
#define TCPREPRO_STORY(record, ...)                                  \
  do {                                                               \
    try {                                                            \
      __VA_ARGS__;                                                   \
    } catch (const ::tcprepro::Unsupported& unsupported) {           \
      GTEST_SKIP() << (record).Skip(std::string("skipped: ") + unsupported.what()); \
    }                                                                \
  } while (0)
