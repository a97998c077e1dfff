#include "telemetry/spool.h"

#include <gtest/gtest.h>

#include <boost/crc.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "store/test_util.h"

namespace fs = std::filesystem;
using rend::store::testing::TempDir;
using rend::telemetry::Spool;
using rend::telemetry::SpoolOptions;

namespace {

SpoolOptions options(const TempDir& dir, uint64_t max_bytes = 1 << 20, uint64_t segment_bytes = 1 << 20) {
  return SpoolOptions{dir.path().string(), max_bytes, segment_bytes};
}

std::string record(int i, size_t size = 100) {
  std::string r = "record-" + std::to_string(i) + ":";
  r.resize(size, char('a' + i % 26));
  return r;
}

// Reads and acknowledges everything, oldest first.
std::vector<std::string> drain(Spool& s) {
  std::vector<std::string> out;
  while (auto r = s.front()) {
    out.push_back(*r);
    s.pop_front();
  }
  return out;
}

std::vector<fs::path> spool_files(const TempDir& dir) {
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(dir.path())) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}

uint64_t framed(size_t payload) { return Spool::kRecordHeaderBytes + payload; }

}  // namespace

TEST(Spool, AppendReopenIterateOldestFirst) {
  TempDir dir;
  {
    // Small segments: the records span several files, and order must hold across them.
    Spool s(options(dir, 1 << 20, 250));
    for (int i = 0; i < 7; ++i) ASSERT_EQ(s.append(record(i)), Spool::AppendResult::ok);
    EXPECT_GT(s.files(), 2u);
    EXPECT_EQ(s.bytes(), s.files() * Spool::kFileHeaderBytes + 7 * framed(100));
  }
  Spool s(options(dir, 1 << 20, 250));
  EXPECT_FALSE(s.empty());
  auto got = drain(s);
  ASSERT_EQ(got.size(), 7u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(got[i], record(i));
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.bytes(), 0u);
  EXPECT_TRUE(spool_files(dir).empty());
}

TEST(Spool, FrontWithoutPopReturnsSameRecordAndSurvivesRestart) {
  TempDir dir;
  {
    Spool s(options(dir));
    ASSERT_EQ(s.append(record(1)), Spool::AppendResult::ok);
    ASSERT_EQ(s.append(record(2)), Spool::AppendResult::ok);
    EXPECT_EQ(s.front(), record(1));
    EXPECT_EQ(s.front(), record(1));
    s.pop_front();
    EXPECT_EQ(s.front(), record(2));
    // "Crash" before record 2 is acknowledged.
  }
  Spool s(options(dir));
  // The read position is not persisted: the whole unacknowledged file is replayed
  // (ingest is idempotent), and nothing is lost.
  auto got = drain(s);
  EXPECT_EQ(got, (std::vector<std::string>{record(1), record(2)}));
}

TEST(Spool, TruncatedTailIsSkippedAndLaterAppendsReadable) {
  TempDir dir;
  {
    Spool s(options(dir));
    for (int i = 0; i < 3; ++i) ASSERT_EQ(s.append(record(i)), Spool::AppendResult::ok);
  }
  auto files = spool_files(dir);
  ASSERT_EQ(files.size(), 1u);
  // Cut record 2 in the middle of its payload, as a crash mid-write would.
  const auto full = fs::file_size(files[0]);
  fs::resize_file(files[0], full - 40);
  {
    Spool s(options(dir));
    // Appends after a restart go to a new file, never after the torn tail.
    ASSERT_EQ(s.append(record(3)), Spool::AppendResult::ok);
    EXPECT_EQ(s.files(), 2u);
  }
  Spool s(options(dir));
  auto got = drain(s);
  EXPECT_EQ(got, (std::vector<std::string>{record(0), record(1), record(3)}));
  EXPECT_EQ(s.bytes(), 0u);
  EXPECT_TRUE(spool_files(dir).empty());
}

TEST(Spool, TruncatedRecordHeaderIsSkipped) {
  TempDir dir;
  {
    Spool s(options(dir));
    for (int i = 0; i < 2; ++i) ASSERT_EQ(s.append(record(i)), Spool::AppendResult::ok);
  }
  auto files = spool_files(dir);
  ASSERT_EQ(files.size(), 1u);
  // Leave only 3 bytes of the second record's 8-byte header.
  fs::resize_file(files[0], Spool::kFileHeaderBytes + framed(100) + 3);
  Spool s(options(dir));
  EXPECT_EQ(drain(s), (std::vector<std::string>{record(0)}));
  EXPECT_TRUE(spool_files(dir).empty());
}

TEST(Spool, FlippedByteEndsTheFilesValidData) {
  TempDir dir;
  {
    Spool s(options(dir));
    for (int i = 0; i < 3; ++i) ASSERT_EQ(s.append(record(i)), Spool::AppendResult::ok);
  }
  auto files = spool_files(dir);
  ASSERT_EQ(files.size(), 1u);
  {
    // Flip one payload byte of record 1: its CRC no longer matches.
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    const auto pos = std::streamoff(Spool::kFileHeaderBytes + framed(100) + Spool::kRecordHeaderBytes + 50);
    f.seekg(pos);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x20;
    f.seekp(pos);
    f.write(&c, 1);
  }
  {
    Spool s(options(dir));
    ASSERT_EQ(s.append(record(9)), Spool::AppendResult::ok);
  }
  Spool s(options(dir));
  // Record 2 is intact but follows the bad one in the same file: skipped by design (a
  // bad length could point anywhere). The next file reads normally.
  EXPECT_EQ(drain(s), (std::vector<std::string>{record(0), record(9)}));
  EXPECT_TRUE(spool_files(dir).empty());
}

TEST(Spool, CorruptLengthRunningPastEndOfFileIsSkipped) {
  TempDir dir;
  {
    Spool s(options(dir));
    for (int i = 0; i < 2; ++i) ASSERT_EQ(s.append(record(i)), Spool::AppendResult::ok);
  }
  auto files = spool_files(dir);
  {
    std::fstream f(files[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(std::streamoff(Spool::kFileHeaderBytes + framed(100) + 3));  // top byte of record 1's length
    char c = 0x7f;
    f.write(&c, 1);
  }
  Spool s(options(dir));
  EXPECT_EQ(drain(s), (std::vector<std::string>{record(0)}));
}

TEST(Spool, ForeignAndHeaderlessFilesAreHandled) {
  TempDir dir;
  // A file with our name but not our header (or cut before the header was complete),
  // and an unrelated file that must be left alone.
  { std::ofstream(dir.path() / "seg-00000000000000000001.spool") << "garbage!garbage!"; }
  { std::ofstream(dir.path() / "seg-00000000000000000002.spool") << "REN"; }
  { std::ofstream(dir.path() / "notes.txt") << "keep me"; }
  Spool s(options(dir));
  ASSERT_EQ(s.append(record(5)), Spool::AppendResult::ok);
  EXPECT_EQ(drain(s), (std::vector<std::string>{record(5)}));
  auto files = spool_files(dir);
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].filename(), "notes.txt");
  EXPECT_EQ(s.bytes(), 0u);
}

TEST(Spool, MaxBytesEnforced) {
  TempDir dir;
  const uint64_t max = Spool::kFileHeaderBytes + 3 * framed(100);
  Spool s(options(dir, max));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(s.append(record(i)), Spool::AppendResult::ok);
  EXPECT_EQ(s.bytes(), max);
  EXPECT_EQ(s.append(record(3)), Spool::AppendResult::full);
  EXPECT_EQ(s.append(record(4, 1)), Spool::AppendResult::full);
  EXPECT_EQ(s.bytes(), max);
  EXPECT_EQ(fs::file_size(spool_files(dir).at(0)), max);
  // Draining frees the space again.
  EXPECT_EQ(drain(s).size(), 3u);
  EXPECT_EQ(s.bytes(), 0u);
  EXPECT_EQ(s.append(record(5)), Spool::AppendResult::ok);
}

TEST(Spool, MaxBytesCountsFilesFromEarlierRuns) {
  TempDir dir;
  const uint64_t max = Spool::kFileHeaderBytes + 2 * framed(100);
  {
    Spool s(options(dir, max));
    ASSERT_EQ(s.append(record(0)), Spool::AppendResult::ok);
  }
  Spool s(options(dir, max));
  EXPECT_EQ(s.bytes(), Spool::kFileHeaderBytes + framed(100));
  // A new file (own header) plus the record no longer fits.
  EXPECT_EQ(s.append(record(1)), Spool::AppendResult::full);
}

TEST(Spool, AckDeletesFilesOnlyWhenFullyAcknowledged) {
  TempDir dir;
  // Two records per file: the file is sealed once it reaches 150 bytes.
  Spool s(options(dir, 1 << 20, Spool::kFileHeaderBytes + 2 * framed(100)));
  for (int i = 0; i < 5; ++i) ASSERT_EQ(s.append(record(i)), Spool::AppendResult::ok);
  ASSERT_EQ(spool_files(dir).size(), 3u);
  const auto first = spool_files(dir).front();

  EXPECT_EQ(s.front(), record(0));
  EXPECT_EQ(spool_files(dir).size(), 3u);  // reading acknowledges nothing
  s.pop_front();
  EXPECT_TRUE(fs::exists(first));  // record 1 is still unacknowledged
  EXPECT_EQ(s.front(), record(1));
  s.pop_front();
  EXPECT_FALSE(fs::exists(first));
  EXPECT_EQ(spool_files(dir).size(), 2u);
  EXPECT_EQ(s.bytes(), 2 * Spool::kFileHeaderBytes + 3 * framed(100));

  // The active file: appends continue while it is read; deleted once caught up.
  EXPECT_EQ(drain(s).size(), 3u);
  EXPECT_TRUE(spool_files(dir).empty());
  ASSERT_EQ(s.append(record(7)), Spool::AppendResult::ok);
  EXPECT_EQ(s.front(), record(7));
  ASSERT_EQ(s.append(record(8)), Spool::AppendResult::ok);
  s.pop_front();
  EXPECT_EQ(spool_files(dir).size(), 1u);  // record 8 shares the file
  EXPECT_EQ(s.front(), record(8));
  s.pop_front();
  EXPECT_TRUE(spool_files(dir).empty());
  EXPECT_TRUE(s.empty());
}

TEST(Spool, SkipFrontAcknowledgesWithoutReading) {
  TempDir dir;
  Spool s(options(dir, 1 << 20, 250));
  for (int i = 0; i < 5; ++i) ASSERT_EQ(s.append(record(i)), Spool::AppendResult::ok);
  ASSERT_TRUE(s.skip_front());
  ASSERT_TRUE(s.skip_front());  // without pop_front() it stays at the same record
  s.pop_front();
  ASSERT_TRUE(s.skip_front());
  s.pop_front();
  auto got = drain(s);
  ASSERT_EQ(got.size(), 3u);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(got[i], record(i + 2));
  EXPECT_FALSE(s.skip_front());
  EXPECT_TRUE(spool_files(dir).empty());
}

TEST(Spool, RecordCrcIsTheIeeeCrcOfLengthAndPayload) {
  // Spools written with the earlier checksum code (boost's CRC-32) must still read.
  std::string payload = "123456789 a telemetry batch";
  boost::crc_32_type want;
  const unsigned char len[4] = {uint8_t(payload.size()), 0, 0, 0};
  want.process_bytes(len, 4);
  want.process_bytes(payload.data(), payload.size());
  EXPECT_EQ(rend::telemetry::spool_record_crc(uint32_t(payload.size()), payload), want.checksum());
}

TEST(Spool, PopWithoutFrontIsNoop) {
  TempDir dir;
  Spool s(options(dir));
  ASSERT_EQ(s.append(record(0)), Spool::AppendResult::ok);
  s.pop_front();
  EXPECT_EQ(s.front(), record(0));
}

TEST(Spool, UncreatableDirectoryThrowsNamingIt) {
  TempDir dir;
  { std::ofstream(dir.path() / "file") << "x"; }
  const std::string bad = (dir.path() / "file" / "spool").string();
  try {
    Spool s(SpoolOptions{bad, 1 << 20, 1 << 20});
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(bad), std::string::npos) << e.what();
  }
}
