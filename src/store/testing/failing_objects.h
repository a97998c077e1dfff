#pragma once
// Test only. An ObjectStore decorator whose writes fail on demand, in front of a
// real store: a failing write throws StoreError and stores nothing, as a real
// backend's failed put does. Reads, lists and deletes pass through.
//
//   FailingObjects objects(real);
//   objects.fail_puts("assets/");                 // an outage of everything under assets/
//   objects.fail_puts("assets/a/master.m3u8", 1, 1);  // the 2nd write of that key fails, once
//   objects.fail_nth_put(3);                      // the 3rd write from now, whatever its key
//   objects.clear_failures();
//
// A "put" is begin_put, put_bytes or put_file. Thread-safe.
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/metadata.h"  // StoreError
#include "store/objects.h"

namespace rend::store::testing {

class FailingObjects final : public ObjectStore {
 public:
  explicit FailingObjects(std::unique_ptr<ObjectStore> real) : real_(std::move(real)) {}

  // Puts of keys starting with `prefix`: the first `skip` succeed, the next `count`
  // throw (count < 0: every one until clear_failures()).
  void fail_puts(std::string prefix, int count = -1, int skip = 0) {
    std::lock_guard lock(mu_);
    rules_.push_back({std::move(prefix), count, skip});
  }
  // The n-th put from now (1-based), whatever its key, throws; once.
  void fail_nth_put(int n) { fail_puts("", 1, n - 1); }
  void clear_failures() {
    std::lock_guard lock(mu_);
    rules_.clear();
  }
  int puts() const {
    std::lock_guard lock(mu_);
    return puts_;
  }
  int failed_puts() const {
    std::lock_guard lock(mu_);
    return failed_;
  }
  std::vector<std::string> failed_keys() const {
    std::lock_guard lock(mu_);
    return failed_keys_;
  }

  std::unique_ptr<ObjectWriter> begin_put(const std::string& key) override {
    check(key);
    return real_->begin_put(key);
  }
  void put_bytes(const std::string& key, std::string_view data) override {
    check(key);
    real_->put_bytes(key, data);
  }
  void put_file(const std::string& key, const std::string& local_path) override {
    check(key);
    real_->put_file(key, local_path);
  }
  std::unique_ptr<ObjectReader> get(const std::string& key) override { return real_->get(key); }
  std::optional<ObjectInfo> head(const std::string& key) override { return real_->head(key); }
  bool get_to_file(const std::string& key, const std::string& local_path) override {
    return real_->get_to_file(key, local_path);
  }
  std::vector<std::string> list(const std::string& prefix) override { return real_->list(prefix); }
  size_t delete_prefix(const std::string& prefix) override { return real_->delete_prefix(prefix); }
  HealthStatus health() override { return real_->health(); }
  ObjectStoreCapabilities capabilities() override { return real_->capabilities(); }
  uint64_t multipart_min_part_bytes() const override { return real_->multipart_min_part_bytes(); }
  std::string begin_multipart(const std::string& k) override { return real_->begin_multipart(k); }
  StoredPart upload_part(const std::string& k, const std::string& h, uint32_t n, uint64_t off, uint64_t size,
                         const PartSource& body) override {
    return real_->upload_part(k, h, n, off, size, body);
  }
  void complete_multipart(const std::string& k, const std::string& h, const std::vector<StoredPart>& parts) override {
    real_->complete_multipart(k, h, parts);
  }
  void abort_multipart(const std::string& k, const std::string& h) override { real_->abort_multipart(k, h); }

 private:
  struct Rule {
    std::string prefix;
    int count, skip;
  };

  void check(const std::string& key) {
    std::lock_guard lock(mu_);
    ++puts_;
    bool fail = false;
    for (auto& r : rules_) {
      if (!key.starts_with(r.prefix) || r.count == 0) continue;
      if (r.skip > 0) {
        --r.skip;
        continue;
      }
      if (r.count > 0) --r.count;
      fail = true;
    }
    if (!fail) return;
    ++failed_;
    failed_keys_.push_back(key);
    throw StoreError("object store unavailable (injected)");
  }

  std::unique_ptr<ObjectStore> real_;
  mutable std::mutex mu_;
  std::vector<Rule> rules_;
  int puts_ = 0, failed_ = 0;
  std::vector<std::string> failed_keys_;
};

}  // namespace rend::store::testing
