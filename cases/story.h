// What every story shares: the fixture that gives it a lab of its variant,
// the evidence folder the harness chose, and how a kernel that lacks a
// feature turns into a skip with its reason.
//
// A story reads: set up (the lab, its sysctls and impairments), act (sockets),
// observe (lab.Observe, from sockets, counters and the captures). It asserts
// only that the machinery worked; the harness judges the observations against
// the catalogue (harness/scenarios/*.toml). Its GoogleTest name is the
// catalogue's scenario id with '-' written '_' (S3e-valid-syn -> S3e_valid_syn).
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <memory>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "netns/error.h"
#include "netns/lab.h"

namespace tcprepro {

// The running test's evidence folder, as the harness names it (the naming
// rule is the harness's alone): $TCPREPRO_EVIDENCE_DIR when it runs one test
// per process; the test's entry in the JSON file $TCPREPRO_EVIDENCE_DIRS
// ({full gtest name: folder}) when it runs a batch. A story run by hand
// records into <root>/<full gtest name, characters other than [A-Za-z0-9_.-]
// written '_'>, root being $TCPREPRO_EVIDENCE_ROOT or ./evidence.
std::filesystem::path EvidenceDirForCurrentTest();

// A lab of `variant` recording into the running test's evidence folder.
std::unique_ptr<TwoHostLab> LabForCurrentTest(const Variant& variant,
                                              nlohmann::json description = nlohmann::json::object());

// The fixture of a family's stories: the parameter is the lab's variant.
class LabStory : public ::testing::TestWithParam<Variant> {
 protected:
  Family family() const { return GetParam().family; }
  // The story's lab, made on first use and ended after the story.
  TwoHostLab& NewLab(nlohmann::json description = nlohmann::json::object()) {
    lab_ = LabForCurrentTest(GetParam(), std::move(description));
    return *lab_;
  }

 private:
  std::unique_ptr<TwoHostLab> lab_;
};

// Every variant of `link`, for INSTANTIATE_TEST_SUITE_P.
inline auto VariantsOver(Link link) {
  return ::testing::Values(Variant{Family::kIpv4, link}, Variant{Family::kIpv6, link});
}
inline std::string VariantParamName(const ::testing::TestParamInfo<Variant>& info) { return VariantName(info.param); }

// The kernel's behaviour ends a story early, e.g. a configuration under which a
// 4-tuple is never reused, so a reuse hazard cannot arise. What was observed so far
// is the result (the test passes; the harness judges it), with `story_ended` saying why.
class StoryEnds : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tcprepro

// Runs a story; a tcprepro::Unsupported thrown inside skips the test with its
// reason (recorded by the lab) instead of failing it; a tcprepro::StoryEnds ends it
// with what it observed. Any other exception fails it.
#define TCPREPRO_STORY(lab, ...)                                                  \
  do {                                                                            \
    try {                                                                         \
      __VA_ARGS__;                                                                \
    } catch (const ::tcprepro::Unsupported& unsupported) {                        \
      GTEST_SKIP() << (lab).Skip(std::string("skipped: ") + unsupported.what());  \
    } catch (const ::tcprepro::StoryEnds& ended) {                                \
      (lab).Observe("story_ended", ended.what());                                 \
    }                                                                             \
  } while (0)
