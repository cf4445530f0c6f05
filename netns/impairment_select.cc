// Impair(): validates the rule, then picks the backend.
#include <cstdlib>

#include "netns/error.h"
#include "netns/impairment.h"
#include "netns/impairment_select.h"

namespace tcprepro {

namespace impairment_internal {

std::string FlagNames(uint8_t flags) {
  static const std::pair<uint8_t, const char*> kNames[] = {
      {kTcpFin, "FIN"}, {kTcpSyn, "SYN"}, {kTcpRst, "RST"}, {kTcpPsh, "PSH"}, {kTcpAck, "ACK"}};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (flags & bit) out += (out.empty() ? "" : ",") + std::string(name);
  }
  return out.empty() ? "NONE" : out;
}

}  // namespace impairment_internal

namespace {

constexpr const char* kBackendVariable = "TCPREPRO_IMPAIRMENT_BACKEND";

void Validate(const ImpairmentRule& rule) {
  if (rule.action.kind == ImpairAction::Kind::kDropShare && (rule.action.share < 0 || rule.action.share > 1)) {
    throw LabError("drop share " + std::to_string(rule.action.share) + " is not a probability");
  }
  if (rule.match.nth < 0) throw LabError("nth must be 0 (every match) or a match number from 1");
  if (rule.match.flags_set & ~rule.match.flags_mask) throw LabError("flags_set has bits outside flags_mask");
}

}  // namespace

std::string PacketMatch::Describe() const {
  using impairment_internal::FlagNames;
  std::string text = FamilyName(family) + " tcp";
  if (sport) text += " sport " + std::to_string(*sport);
  if (dport) text += " dport " + std::to_string(*dport);
  if (flags_mask) text += " flags " + FlagNames(flags_set) + "/" + FlagNames(flags_mask);
  text += nth ? " match #" + std::to_string(nth) : " every match";
  return text;
}

std::string BackendName(ImpairmentBackend backend) {
  switch (backend) {
    case ImpairmentBackend::kAuto:
      return "auto";
    case ImpairmentBackend::kNetem:
      return "netem";
    case ImpairmentBackend::kNfqueue:
      return "nfqueue";
  }
  return "?";
}

ImpairmentBackend ImpairmentBackendFromEnvironment() {
  const char* value = std::getenv(kBackendVariable);
  const std::string name = value ? value : "";
  for (auto backend : {ImpairmentBackend::kAuto, ImpairmentBackend::kNetem, ImpairmentBackend::kNfqueue}) {
    if (name == BackendName(backend)) return backend;
  }
  if (name.empty()) return ImpairmentBackend::kAuto;
  throw LabError(std::string(kBackendVariable) + "='" + name + "' is not an impairment backend: auto, netem or nfqueue");
}

std::unique_ptr<Impairment> Impair(const NetNamespace& ns, const ImpairmentRule& rule) {
  return Impair(ns, rule, ImpairmentBackendFromEnvironment());
}

std::unique_ptr<Impairment> Impair(const NetNamespace& ns, const ImpairmentRule& rule, ImpairmentBackend backend) {
  RequireNotHost(ns, "install an impairment");
  Validate(rule);
  std::string why;
  switch (backend) {
    case ImpairmentBackend::kNetem:
      if (!impairment_internal::NetemCanExpress(ns, rule, why)) throw Unsupported(why);
      return impairment_internal::InstallNetem(ns, rule);
    case ImpairmentBackend::kNfqueue:
      return impairment_internal::InstallNfqueue(ns, rule);
    case ImpairmentBackend::kAuto:
      // netem first: it needs no user-space thread on the packet path.
      if (impairment_internal::NetemCanExpress(ns, rule, why)) return impairment_internal::InstallNetem(ns, rule);
      return impairment_internal::InstallNfqueue(ns, rule);
  }
  throw LabError("unknown impairment backend");
}

}  // namespace tcprepro
