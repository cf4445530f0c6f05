#include "netns/lab.h"

#include <fstream>
#include <iostream>

#include "netns/clock.h"
#include "netns/error.h"

namespace tcprepro {
namespace {

// The veth's addresses; every lab is its own pair of namespaces, so they never meet.
constexpr const char* kClientV4 = "10.210.0.1";
constexpr const char* kServerV4 = "10.210.0.2";
constexpr const char* kClientV6 = "fd00:210::1";
constexpr const char* kServerV6 = "fd00:210::2";

std::string DirectionName(Direction d) { return d == Direction::kEgress ? "egress" : "ingress"; }

}  // namespace

std::string LinkName(Link link) {
  switch (link) {
    case Link::kLoopback:
      return "loopback";
    case Link::kVeth:
      return "veth";
    case Link::kNone:
      return "none";
  }
  return "?";
}

std::string VariantName(const Variant& variant) { return FamilyName(variant.family) + "_" + LinkName(variant.link); }

void PrintTo(const Variant& variant, std::ostream* os) { *os << VariantName(variant); }

TwoHostLab::TwoHostLab(const Variant& variant, const std::filesystem::path& evidence_dir, nlohmann::json description)
    : variant_(variant), story_started_(EpochSeconds()) {
  if (variant.link != Link::kNone) {
    description["family"] = FamilyName(variant.family);
    description["link"] = LinkName(variant.link);
  }
  record_ = std::make_unique<ScenarioRecord>(evidence_dir, std::move(description));
  const bool v4 = variant.family == Family::kIpv4;
  switch (variant.link) {
    case Link::kLoopback:
      client_ = std::make_unique<NetNamespace>(NetNamespace::Create("host"));
      client_ip_ = server_ip_ = LoopbackAddress(variant.family);
      break;
    case Link::kVeth:
      client_ = std::make_unique<NetNamespace>(NetNamespace::Create("client"));
      server_ = std::make_unique<NetNamespace>(NetNamespace::Create("server"));
      veth_ = std::make_unique<VethPair>(
          VethEnd{client_.get(), "c0", {std::string(kClientV4) + "/24", std::string(kClientV6) + "/64"}},
          VethEnd{server_.get(), "s0", {std::string(kServerV4) + "/24", std::string(kServerV6) + "/64"}});
      client_ip_ = v4 ? kClientV4 : kClientV6;
      server_ip_ = v4 ? kServerV4 : kServerV6;
      break;
    case Link::kNone:
      client_ = std::make_unique<NetNamespace>(NetNamespace::Create("client"));
      server_ = std::make_unique<NetNamespace>(NetNamespace::Create("server"));
      client_ip_ = server_ip_ = LoopbackAddress(variant.family);
      return;  // nothing travels between them: no capture
  }
  captures_.push_back(std::make_unique<PacketCapture>(*client_, evidence_dir / (client_->label() + ".pcap")));
  if (server_) {
    captures_.push_back(std::make_unique<PacketCapture>(*server_, evidence_dir / (server_->label() + ".pcap")));
  }
}

TwoHostLab::~TwoHostLab() {
  try {
    StopCaptures("every TCP segment of the story");
  } catch (const std::exception& e) {
    std::cerr << "the lab could not finish its captures: " << e.what() << '\n';
  }
}

std::string TwoHostLab::client_link() const { return link() == Link::kVeth ? "c0" : "lo"; }
std::string TwoHostLab::server_link() const { return link() == Link::kVeth ? "s0" : "lo"; }

Endpoint TwoHostLab::ServerAt(uint16_t port) {
  service_ports_.insert(port);
  return {server_ip_, port};
}

UniqueFd TwoHostLab::Listen(uint16_t port, bool reuseaddr) {
  const Endpoint at = ServerAt(port);
  NamespaceGuard inside(server());
  return tcprepro::Listen(at, reuseaddr);
}

UniqueFd TwoHostLab::Connect(uint16_t port, int io_timeout_millis, const std::function<void(int)>& before_connect) {
  const Endpoint to = ServerAt(port);
  NamespaceGuard inside(client());
  return tcprepro::Connect(to, io_timeout_millis, before_connect);
}

std::string TwoHostLab::Sysctl(const NetNamespace& ns, const std::string& key, const std::string& value) {
  sysctls_.push_back(std::make_unique<SysctlGuard>(ns, key, value));
  record_->NoteSysctl(*sysctls_.back());
  return sysctls_.back()->effective();
}

void TwoHostLab::ObserveDeltas(const std::string& prefix, const NetNamespace& ns, const CounterSnapshot& before,
                               const std::vector<std::string>& names) {
  for (const auto& [name, delta] : CounterDeltas(before, Counters(ns), names)) {
    Observe(prefix + name + "_delta", delta);
  }
}

Impairment& TwoHostLab::Impair(const NetNamespace& ns, const ImpairmentRule& rule) {
  auto impairment = tcprepro::Impair(ns, rule);
  record_->NoteImpairment(*impairment);
  const std::string where = impairment->backend() + " rule on " + rule.link + " " + DirectionName(rule.direction) +
                            " (" + rule.match.Describe() + ")";
  rules_.push_back({{"rule", where}, {"namespace", ns.label()}, {"marks", impairment->records_packets()}});
  impairments_.push_back({std::move(impairment), where, ns.label(), rule.direction});
  return *impairments_.back().impairment;
}

void TwoHostLab::Harvest(const Held& held) {
  for (const auto& packet : held.impairment->acted_on()) {
    Captured captured = Captured::kNear;
    if (held.direction == Direction::kEgress) {
      captured = packet.action == "dropped" ? Captured::kNowhere : Captured::kLater;
    }
    marks_.push_back(
        {packet.segment, packet.action, packet.action + " by the " + held.where, held.namespace_label, captured});
  }
}

void TwoHostLab::Lift(Impairment& impairment) {
  for (auto it = impairments_.begin(); it != impairments_.end(); ++it) {
    if (it->impairment.get() != &impairment) continue;
    Harvest(*it);
    impairments_.erase(it);
    return;
  }
  throw LabError("Lift: not an impairment of this lab");
}

void TwoHostLab::Craft(const NetNamespace& ns, const CraftedSegment& c) {
  SendCraftedSegment(ns, c);
  TcpSegment sent;
  sent.time = EpochSeconds();
  sent.src = c.src.ip, sent.sport = c.src.port;
  sent.dst = c.dst.ip, sent.dport = c.dst.port;
  sent.seq = c.seq, sent.ack = c.ack, sent.flags = c.flags, sent.window = c.window;
  sent.ts_val = c.ts_val, sent.ts_ecr = c.ts_val ? c.ts_ecr : std::nullopt;
  marks_.push_back({sent, "crafted", "crafted by the story with a raw socket", ns.label(), Captured::kNear});
}

std::string TwoHostLab::Cut() {
  if (link() != Link::kVeth) throw LabError("a cut needs the veth link");
  PacketMatch all;
  all.family = family();
  // The cut begins with the first rule: installing one can take a second
  // under TCG (an iptables process), and packets sent meanwhile belong to it.
  cut_at_ = EpochSeconds();
  cut_to_server_ = &Impair(server(), {server_link(), Direction::kIngress, all, ImpairAction::Drop()});
  cut_to_client_ = &Impair(server(), {server_link(), Direction::kEgress, all, ImpairAction::Drop()});
  return "drop " + all.Describe() + " on the server's veth, ingress and egress";
}

void TwoHostLab::Restore() {
  if (!cut_to_server_) return;
  restored_at_ = EpochSeconds();
  dropped_to_server_ = cut_to_server_->impaired();
  dropped_to_client_ = cut_to_client_->impaired();
  Lift(*cut_to_client_);
  Lift(*cut_to_server_);
  cut_to_client_ = cut_to_server_ = nullptr;
}

uint64_t TwoHostLab::dropped_to_server() const {
  return cut_to_server_ ? cut_to_server_->impaired() : dropped_to_server_;
}
uint64_t TwoHostLab::dropped_to_client() const {
  return cut_to_client_ ? cut_to_client_->impaired() : dropped_to_client_;
}

std::string TwoHostLab::LaneOf(const std::string& ip, uint16_t port) const {
  if (client_ip_ != server_ip_) {
    if (ip == server_ip_) return "server";
    if (ip == client_ip_) return "client";
    return "elsewhere";
  }
  return service_ports_.count(port) ? "server" : "client";
}

void TwoHostLab::StopCaptures(const std::string& what) {
  if (captures_stopped_) return;
  captures_stopped_ = true;
  for (const auto& held : impairments_) Harvest(held);
  for (auto& capture : captures_) {
    capture->Stop();
    record_->AddCapture(*capture, "the " + capture->namespace_label() + " namespace: " + what);
  }
  for (const auto& capture : captures_) WriteExchange(*capture);
}

void TwoHostLab::WriteExchange(const PacketCapture& capture) {
  ExchangeInput input{capture.file().filename().string(), capture.namespace_label(), story_started_,
                      {"client", "server"},
                      [this](const std::string& ip, uint16_t port) { return LaneOf(ip, port); }};
  nlohmann::json document = ExchangeDocument(input, ReadTcpSegments(capture.file()), marks_);
  // Which rules acted in the story, and whether their packets could be marked.
  document["impairments"] = rules_;
  std::filesystem::path path = capture.file();
  path.replace_extension(".exchange.json");
  std::ofstream out(path);
  out << document.dump(1) << '\n';
  if (!out) throw LabError("cannot write " + path.string());
}

std::vector<TcpSegment> TwoHostLab::ClientSegments() {
  if (!captures_stopped_) throw LabError("ClientSegments: stop the captures first");
  return ReadTcpSegments(captures_.at(0)->file());
}

std::vector<TcpSegment> TwoHostLab::ServerSegments() {
  if (!captures_stopped_) throw LabError("ServerSegments: stop the captures first");
  return ReadTcpSegments(captures_.back()->file());
}

}  // namespace tcprepro
