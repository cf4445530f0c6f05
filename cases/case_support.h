// Shared by the case programs: where a test's evidence goes, and how a kernel
// that lacks a feature turns into a skip with its reason.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <stdexcept>
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

// The kernel's behaviour ends a story early, e.g. a configuration under which the
// 4-tuple is never reused, so a reuse hazard cannot arise. What was observed so far
// is the result (the test passes; the harness judges it), with `story_ended` saying why.
class StoryEnds : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tcprepro

// Runs a story; a tcprepro::Unsupported thrown inside skips the test with its
// reason instead of failing it. Any other exception fails it as usual.
#define TCPREPRO_STORY(record, ...)                                  \
  do {                                                               \
    try {                                                            \
      __VA_ARGS__;                                                   \
    } catch (const ::tcprepro::Unsupported& unsupported) {           \
      GTEST_SKIP() << (record).Skip(std::string("skipped: ") + unsupported.what()); \
    } catch (const ::tcprepro::StoryEnds& ended) {                   \
      (record).Observe("story_ended", ended.what());                 \
    }                                                                \
  } while (0)
