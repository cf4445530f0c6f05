// Shared by the case programs: where a test's evidence goes, and how a kernel
// that lacks a feature turns into a skip with its reason.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "netns/error.h"

namespace tcprepro {

// $TCPREPRO_EVIDENCE_DIR when the harness runs the test (one process per
// test), else evidence/<Suite.Test_param> under the working directory.
std::filesystem::path EvidenceDirForCurrentTest();

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
