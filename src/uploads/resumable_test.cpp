// The resumable upload engine on real stores: SQLite metadata and the directory
// object store (and the same store declaring S3's 5 MiB minimum part, which exercises
// the buffered tail), a FakeClock.
#include "uploads/resumable.h"

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>

#include "core/clock.h"
#include "core/crypto.h"
#include "core/ids.h"
#include "store/factory.h"
#include "store/memory/coordinator.h"
#include "store/test_util.h"

namespace rend::uploads {
namespace {

namespace stdfs = std::filesystem;

// The directory store with S3's part rule declared: parts but the last of at least 5 MiB,
// each buffered before it is sent.
class FiveMiBParts final : public store::ObjectStore {
 public:
  explicit FiveMiBParts(std::unique_ptr<store::ObjectStore> s) : s_(std::move(s)) {}
  std::unique_ptr<store::ObjectWriter> begin_put(const std::string& k) override { return s_->begin_put(k); }
  void put_bytes(const std::string& k, std::string_view d) override {
    ++tail_puts;
    s_->put_bytes(k, d);
  }
  void put_file(const std::string& k, const std::string& p) override { s_->put_file(k, p); }
  std::unique_ptr<store::ObjectReader> get(const std::string& k) override { return s_->get(k); }
  std::optional<store::ObjectInfo> head(const std::string& k) override { return s_->head(k); }
  bool get_to_file(const std::string& k, const std::string& p) override { return s_->get_to_file(k, p); }
  std::vector<std::string> list(const std::string& p) override { return s_->list(p); }
  size_t delete_prefix(const std::string& p) override { return s_->delete_prefix(p); }
  store::HealthStatus health() override { return s_->health(); }
  // As S3: parts are buffered before they are sent (the fs variant streams them).
  store::ObjectStoreCapabilities capabilities() override {
    auto c = s_->capabilities();
    c.streamed_parts = streams;
    return c;
  }
  uint64_t multipart_min_part_bytes() const override { return 5 << 20; }
  std::string begin_multipart(const std::string& k) override { return s_->begin_multipart(k); }
  store::StoredPart upload_part(const std::string& k, const std::string& h, uint32_t n, uint64_t off, uint64_t size,
                                const store::PartSource& body) override {
    if (n > 1) {
      EXPECT_GE(last_size, 5u << 20) << "a part before the last is under 5 MiB";
    }
    last_size = size;
    ++parts_sent;
    return s_->upload_part(k, h, n, off, size, body);
  }
  void complete_multipart(const std::string& k, const std::string& h,
                          const std::vector<store::StoredPart>& parts) override {
    s_->complete_multipart(k, h, parts);
  }
  void abort_multipart(const std::string& k, const std::string& h) override { s_->abort_multipart(k, h); }
  bool streams = false;
  int tail_puts = 0, parts_sent = 0;
  uint64_t last_size = 0;

 private:
  std::unique_ptr<store::ObjectStore> s_;
};

BodyRead from(const std::string& data, size_t fail_after = std::string::npos) {
  return [&data, fail_after, off = size_t(0)](char* buf, size_t n) mutable -> size_t {
    if (off >= fail_after) throw std::runtime_error("connection reset");
    const size_t k = std::min({n, data.size() - off, fail_after - off});
    std::memcpy(buf, data.data() + off, k);
    off += k;
    return k;
  };
}

std::string random_bytes(size_t n) { return core::random_bytes(n); }

class Resumable : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    meta_ = store::open_metadata_store("sqlite://" + (dir_.path() / "rend.db").string());
    meta_->migrate();
    meta_->create_account({"acc_1", "one", clock_.now_unix_ms()});
    auto fs = store::open_fs_object_store((dir_.path() / "objects").string());
    if (GetParam()) {
      auto five = std::make_unique<FiveMiBParts>(std::move(fs));
      five_ = five.get();
      objects_ = std::move(five);
    } else {
      objects_ = std::move(fs);
    }
    uploads_ = std::make_unique<ResumableUploads>(*meta_, *objects_, coord_, clock_, Settings{.expiry_secs = 3600});
  }

  store::Upload create(int64_t length) {
    store::Asset a;
    a.id = core::new_id("ast");
    a.visibility = "public";
    a.account_id = "acc_1";
    a.owner_key_id = "key_1";
    a.created_at_ms = clock_.now_unix_ms();
    a.expected_bytes = length;
    store::Upload u{core::new_id("upl"), a.id, length, "pending", a.created_at_ms};
    u.protocol = "tus";
    u.expires_at_ms = a.created_at_ms + 3600'000;
    u.multipart_handle = uploads_->begin_storage(a.id);
    meta_->create_upload(a, u);
    return u;
  }

  std::string stored(const store::Upload& u) {
    auto r = objects_->get(ResumableUploads::source_key(u.asset_id));
    if (!r) return "<missing>";
    std::string out(r->size(), '\0');
    size_t at = 0;
    while (size_t n = r->read(out.data() + at, out.size() - at)) at += n;
    return out;
  }

  store::testing::TempDir dir_;
  core::FakeClock clock_;
  store::memory::MemoryCoordinator coord_;
  std::unique_ptr<store::MetadataStore> meta_;
  std::unique_ptr<store::ObjectStore> objects_;
  FiveMiBParts* five_ = nullptr;
  std::unique_ptr<ResumableUploads> uploads_;
};

TEST_P(Resumable, ChunksOfAnySizeAssembleAndCompleteTheUploadOnceLikeAPut) {
  const std::string data = random_bytes(13 << 20);
  auto u = create(int64_t(data.size()));
  // 1 MiB, then 3 MiB, then 9 MiB in one request: short chunks and a long one.
  const size_t cuts[] = {0, 1 << 20, 4 << 20, data.size()};
  for (int i = 0; i < 3; ++i) {
    const std::string piece = data.substr(cuts[i], cuts[i + 1] - cuts[i]);
    auto r = uploads_->append(u.id, int64_t(cuts[i]), from(piece), piece.size(), std::nullopt);
    ASSERT_EQ(r.outcome, Outcome::ok) << i;
    EXPECT_EQ(r.offset, int64_t(cuts[i + 1]));
    EXPECT_EQ(r.completed, i == 2);
    if (i < 2) {
      EXPECT_EQ(stored(u), "<missing>") << "invisible until the last byte";
    }
  }
  EXPECT_EQ(stored(u), data);
  EXPECT_EQ(meta_->get_upload(u.id)->status, "complete");
  auto asset = meta_->get_asset(u.asset_id);
  EXPECT_EQ(asset->status, "queued");
  EXPECT_EQ(asset->source_bytes, int64_t(data.size()));
  EXPECT_EQ(meta_->pending_job_count(), 1);
  if (five_) {
    EXPECT_GT(five_->tail_puts, 0) << "the short chunks were buffered as tail objects";
  }
  EXPECT_TRUE(objects_->list("uploads/").empty()) << "tail objects deleted after completion";
  // Once complete, further requests are refused.
  EXPECT_EQ(uploads_->append(u.id, int64_t(data.size()), from(""), 0, std::nullopt).outcome, Outcome::gone);
  EXPECT_TRUE(uploads_->finish_if_stored(u.id));
  EXPECT_EQ(meta_->pending_job_count(), 1) << "queued once";
}

TEST_P(Resumable, RefusalsChangeNothing) {
  const std::string data = random_bytes(1000);
  auto u = create(1000);
  ASSERT_EQ(uploads_->append(u.id, 0, from(data.substr(0, 100)), 100, std::nullopt).offset, 100);
  EXPECT_EQ(uploads_->append(u.id, 0, from(data), 1000, std::nullopt).outcome, Outcome::offset_mismatch);
  EXPECT_EQ(uploads_->append(u.id, 100, from(data), 1000, std::nullopt).outcome, Outcome::too_large)
      << "declared length past Upload-Length";
  EXPECT_EQ(uploads_->append(u.id, 100, from(data), std::nullopt, std::nullopt).outcome, Outcome::too_large)
      << "streamed past Upload-Length";
  const std::string rest = data.substr(100);
  Checksum wrong{"sha1", std::string(20, 'x')};
  EXPECT_EQ(uploads_->append(u.id, 100, from(rest), rest.size(), wrong).outcome, Outcome::checksum_mismatch);
  EXPECT_EQ(meta_->get_upload(u.id)->progress.offset, 100);
  EXPECT_EQ(meta_->get_upload(u.id)->status, "pending");

  // Another request holds the upload (across processes: the claim is in the database).
  ASSERT_TRUE(meta_->claim_upload(u.id, "other", clock_.now_unix_ms(), 20'000));
  EXPECT_EQ(uploads_->append(u.id, 100, from(rest), rest.size(), std::nullopt).outcome, Outcome::busy);
  meta_->release_upload_claim(u.id, "other");

  Sha1 h;
  h.update(rest.data(), rest.size());
  auto r = uploads_->append(u.id, 100, from(rest), rest.size(), Checksum{"sha1", h.digest()});
  EXPECT_EQ(r.outcome, Outcome::ok);
  EXPECT_TRUE(r.completed);
  EXPECT_EQ(stored(u), data);
}

// The body is read straight into the part buffer, never past the part's end: a body
// that runs one byte past an upload of exactly one part is refused (nothing recorded),
// and one delivered in odd-sized reads that straddle the part boundaries assembles.
TEST_P(Resumable, ReadsStopAtPartBoundariesAndAnExcessByteIsRefused) {
  const size_t part = size_t(kPartBytes);
  const std::string data = random_bytes(part + 1);
  auto one = create(int64_t(part));
  EXPECT_EQ(uploads_->append(one.id, 0, from(data), std::nullopt, std::nullopt).outcome, Outcome::too_large);
  EXPECT_EQ(meta_->get_upload(one.id)->progress.offset, 0);
  EXPECT_EQ(stored(one), "<missing>");

  const std::string two_parts = random_bytes(2 * part + 12345);
  auto u = create(int64_t(two_parts.size()));
  size_t off = 0;
  BodyRead odd = [&](char* buf, size_t n) -> size_t {
    const size_t k = std::min({n, size_t(77777), two_parts.size() - off});
    std::memcpy(buf, two_parts.data() + off, k);
    off += k;
    return k;
  };
  auto r = uploads_->append(u.id, 0, odd, std::nullopt, std::nullopt);
  EXPECT_EQ(r.outcome, Outcome::ok);
  EXPECT_TRUE(r.completed);
  EXPECT_EQ(stored(u), two_parts);
}

// On a store that takes streamed parts, a request that will fill a part (its
// Content-Length says so) sends the part while its bytes arrive, not after: the store
// is writing part 1 before the body's first byte is read. Without a Content-Length, or
// on a store that does not declare it, parts are buffered first.
TEST_P(Resumable, APartTheRequestWillFillIsStreamedToAStoreThatTakesIt) {
  if (!five_) GTEST_SKIP() << "counted on the counting store";
  const std::string data = random_bytes(2 * size_t(kPartBytes) + 1000);
  for (bool streams : {true, false}) {
    five_->streams = streams;
    five_->parts_sent = 0;
    auto u = create(int64_t(data.size()));
    int parts_at_first_read = -1;
    size_t off = 0;
    BodyRead body = [&](char* buf, size_t n) -> size_t {
      if (parts_at_first_read < 0) parts_at_first_read = five_->parts_sent;
      const size_t k = std::min(n, data.size() - off);
      std::memcpy(buf, data.data() + off, k);
      off += k;
      return k;
    };
    auto r = uploads_->append(u.id, 0, body, data.size(), std::nullopt);
    EXPECT_TRUE(r.completed) << streams;
    EXPECT_EQ(stored(u), data) << streams;
    EXPECT_EQ(parts_at_first_read, streams ? 1 : 0) << streams;
    EXPECT_EQ(five_->parts_sent, 3) << streams;
  }
}

TEST_P(Resumable, AnInterruptedBodyKeepsWhatArrivedAndTheClientResumesThere) {
  const std::string data = random_bytes(7 << 20);
  auto u = create(int64_t(data.size()));
  auto r = uploads_->append(u.id, 0, from(data, 3 << 20), data.size(), std::nullopt);
  EXPECT_EQ(r.outcome, Outcome::interrupted);
  EXPECT_EQ(r.offset, 3 << 20);
  EXPECT_EQ(meta_->get_upload(u.id)->progress.offset, 3 << 20) << "recorded for a HEAD from another process";
  const std::string rest = data.substr(3 << 20);
  r = uploads_->append(u.id, 3 << 20, from(rest), rest.size(), std::nullopt);
  EXPECT_TRUE(r.completed);
  EXPECT_EQ(stored(u), data);
}

TEST_P(Resumable, ACrashBetweenTheLastPartAndCompletionIsFinishedByTheNextRequest) {
  const std::string data = random_bytes(4096);
  auto u = create(4096);
  // What append does up to the crash: the part stored and the offset recorded.
  ASSERT_TRUE(meta_->claim_upload(u.id, "dead", clock_.now_unix_ms(), 20'000));
  size_t off = 0;
  auto part = objects_->upload_part(ResumableUploads::source_key(u.asset_id), u.multipart_handle, 1, 0, 4096,
                                    [&](char* b, size_t n) {
                                      const size_t k = std::min(n, data.size() - off);
                                      std::memcpy(b, data.data() + off, k);
                                      off += k;
                                      return k;
                                    });
  ASSERT_TRUE(meta_->save_upload_progress(u.id, "dead", {4096, {{4096, part.etag}}, {}}));
  EXPECT_FALSE(uploads_->finish_if_stored(u.id)) << "the dead process's lease still runs";
  clock_.advance_ms(20'001);
  EXPECT_TRUE(uploads_->finish_if_stored(u.id));
  EXPECT_EQ(stored(u), data);
  EXPECT_EQ(meta_->get_asset(u.asset_id)->status, "queued");
  EXPECT_EQ(meta_->pending_job_count(), 1);
}

TEST_P(Resumable, TerminationAndExpiryDiscardTheStorage) {
  auto count_multipart_files = [&] {
    const auto d = dir_.path() / "objects" / ".multipart";
    return std::distance(stdfs::directory_iterator(d), stdfs::directory_iterator());
  };
  const std::string data = random_bytes(1 << 20);
  auto t = create(2 << 20);
  auto e = create(2 << 20);
  ASSERT_EQ(uploads_->append(t.id, 0, from(data), data.size(), std::nullopt).outcome, Outcome::ok);
  ASSERT_EQ(uploads_->append(e.id, 0, from(data), data.size(), std::nullopt).outcome, Outcome::ok);
  EXPECT_EQ(count_multipart_files(), 2);

  EXPECT_EQ(uploads_->end(t.id, "terminated"), Outcome::ok);
  EXPECT_EQ(meta_->get_upload(t.id)->status, "terminated");
  EXPECT_EQ(meta_->get_asset(t.asset_id)->status, "deleted");
  EXPECT_EQ(uploads_->end(t.id, "terminated"), Outcome::gone);
  EXPECT_EQ(count_multipart_files(), 1);

  EXPECT_EQ(uploads_->sweep_expired(), 0) << "not expired yet";
  clock_.advance_ms(3600'001);
  EXPECT_EQ(uploads_->sweep_expired(), 1);
  EXPECT_EQ(meta_->get_upload(e.id)->status, "expired");
  EXPECT_EQ(meta_->get_asset(e.asset_id)->error_code, "upload_expired");
  EXPECT_EQ(count_multipart_files(), 0);
  EXPECT_TRUE(objects_->list("uploads/").empty());
  EXPECT_EQ(uploads_->append(e.id, 1 << 20, from(data), data.size(), std::nullopt).outcome, Outcome::gone);
}

TEST_P(Resumable, ARequestThatCannotClaimTheUploadStoresNothing) {
  if (!five_) GTEST_SKIP() << "counted on the counting store";
  const std::string data = random_bytes(6 << 20);
  auto u = create(int64_t(data.size()));
  ASSERT_TRUE(meta_->claim_upload(u.id, "the-other-request", clock_.now_unix_ms(), 20'000));
  bool read = false;
  BodyRead body = [&](char*, size_t) -> size_t {
    read = true;
    return 0;
  };
  EXPECT_EQ(uploads_->append(u.id, 0, body, data.size(), std::nullopt).outcome, Outcome::busy);
  EXPECT_FALSE(read) << "refused before its body is read";
  EXPECT_EQ(five_->parts_sent + five_->tail_puts, 0) << "its bytes would race the holder's part 1";
  EXPECT_EQ(uploads_->end(u.id, "terminated"), Outcome::busy);
  EXPECT_EQ(meta_->get_upload(u.id)->status, "pending");
}

INSTANTIATE_TEST_SUITE_P(Stores, Resumable, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "five_mib_parts" : "fs"; });

}  // namespace
}  // namespace rend::uploads
