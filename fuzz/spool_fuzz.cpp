// The telemetry spool's reader: the input is a spool file left on disk by an earlier
// process (torn, corrupted, hostile). Invariants: the reader never crashes; every
// record it returns has the framing's CRC; it terminates; it deletes what it drained.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

#include "fuzz_util.h"
#include "telemetry/spool.h"

using namespace rend;
namespace fs = std::filesystem;

namespace {

const fs::path& dir() {
  static const fs::path d = [] {
    // tmpfs when there is one: the spool fdatasyncs, which a disk makes slow.
    const char* tmp = std::getenv("TMPDIR");
    const fs::path base = fs::is_directory("/dev/shm") ? "/dev/shm" : (tmp && *tmp ? tmp : "/tmp");
    fs::path p = base / ("rend-spool-fuzz-" + std::to_string(getpid()));
    fs::remove_all(p);
    fs::create_directories(p);
    std::atexit([] {
      std::error_code ec;
      fs::remove_all(dir(), ec);
    });
    return p;
  }();
  return d;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir(), ec)) fs::remove_all(e.path(), ec);
  {
    std::ofstream out(dir() / "seg-00000000000000000001.spool", std::ios::binary);
    out.write(reinterpret_cast<const char*>(data), std::streamsize(size));
  }
  telemetry::Spool spool({dir().string(), 1u << 20, 1u << 16});
  size_t records = 0;
  uint64_t payload = 0;
  while (auto r = spool.front()) {
    FUZZ_CHECK(r->size() <= telemetry::Spool::kMaxRecordBytes);
    payload += r->size() + telemetry::Spool::kRecordHeaderBytes;
    FUZZ_CHECK(payload <= size);  // nothing is made up beyond the file
    spool.pop_front();
    FUZZ_CHECK(++records <= size / telemetry::Spool::kRecordHeaderBytes + 1);
  }
  FUZZ_CHECK(spool.empty());
  FUZZ_CHECK(spool.files() == 0);
  // The spool stays writable after whatever it recovered.
  FUZZ_CHECK(spool.append("after") == telemetry::Spool::AppendResult::ok);
  auto again = spool.front();
  FUZZ_CHECK(again && *again == "after");
  return 0;
}
