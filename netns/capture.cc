#include "netns/capture.h"

#include <poll.h>

#include "netns/error.h"

namespace tcprepro {
namespace {

// Headers and a little payload are all a scenario reads; short snaps keep
// copies cheap when a story sends bulk data.
constexpr int kSnapLength = 512;
// How long the reader sleeps between checks of the stop flag.
constexpr int kPollMillis = 20;

void CheckPcap(pcap_t* handle, int rc, const std::string& what) {
  if (rc < 0) throw LabError("libpcap " + what + ": " + pcap_geterr(handle));
}

void DumpOne(u_char* user, const struct pcap_pkthdr* header, const u_char* bytes) {
  pcap_dump(user, header, bytes);
}

}  // namespace

PacketCapture::PacketCapture(const NetNamespace& ns, std::filesystem::path file, const std::string& filter)
    : file_(std::move(file)), label_(ns.label()) {
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  {
    // The packet socket belongs to the namespace it is opened in.
    NamespaceGuard inside(ns);
    handle_ = pcap_create("any", errbuf);
    if (!handle_) throw LabError(std::string("pcap_create(any) in ") + ns.label() + ": " + errbuf);
    try {
      CheckPcap(handle_, pcap_set_snaplen(handle_, kSnapLength), "set_snaplen");
      // Without immediate mode packets wait in TPACKET_V3 blocks and time out late.
      CheckPcap(handle_, pcap_set_immediate_mode(handle_, 1), "set_immediate_mode");
      CheckPcap(handle_, pcap_set_buffer_size(handle_, 4 << 20), "set_buffer_size");
      const int rc = pcap_activate(handle_);
      if (rc < 0) throw LabError(std::string("pcap_activate(any) in ") + ns.label() + ": " + pcap_geterr(handle_));
    } catch (...) {
      pcap_close(handle_);
      throw;
    }
  }
  try {
    struct bpf_program program {};
    CheckPcap(handle_, pcap_compile(handle_, &program, filter.c_str(), 1, PCAP_NETMASK_UNKNOWN),
              "compile '" + filter + "'");
    const int rc = pcap_setfilter(handle_, &program);
    pcap_freecode(&program);
    CheckPcap(handle_, rc, "setfilter");
    CheckPcap(handle_, pcap_setnonblock(handle_, 1, errbuf), "setnonblock");
    dumper_ = pcap_dump_open(handle_, file_.c_str());
    if (!dumper_) throw LabError("pcap_dump_open " + file_.string() + ": " + pcap_geterr(handle_));
  } catch (...) {
    pcap_close(handle_);
    throw;
  }
  reader_ = std::thread(&PacketCapture::Loop, this);
}

PacketCapture::~PacketCapture() { Stop(); }

void PacketCapture::Loop() {
  struct pollfd pfd = {pcap_get_selectable_fd(handle_), POLLIN, 0};
  while (!stopping_.load()) {
    ::poll(&pfd, 1, kPollMillis);
    DrainQueued();
  }
}

void PacketCapture::DrainQueued() {
  int n;
  while ((n = pcap_dispatch(handle_, -1, DumpOne, reinterpret_cast<u_char*>(dumper_))) > 0) {
    packets_ += static_cast<uint64_t>(n);
  }
}

void PacketCapture::Stop() {
  if (!handle_) return;
  stopping_ = true;
  reader_.join();
  DrainQueued();  // whatever the kernel queued between the last poll and now
  struct pcap_stat stats {};
  if (pcap_stats(handle_, &stats) == 0) dropped_ = stats.ps_drop;
  pcap_dump_close(dumper_);
  pcap_close(handle_);
  handle_ = nullptr;
  dumper_ = nullptr;
}

}  // namespace tcprepro
