#pragma once
// ObjectStore over a local directory (the embedded default).
//
// A put streams into ROOT/.tmp/ and becomes visible by rename(2), which atomically
// replaces any old object: readers hold an open descriptor, so they keep reading
// the complete old file. ".tmp" is therefore reserved and rejected as a first key
// segment, and so is ".multipart": multipart writes (resumable uploads, which may
// last a day, so not under .tmp/, whose old files are cleaned at start) append to
// ROOT/.multipart/{handle} and become visible by the same rename.
#include <filesystem>
#include <string>

#include "store/objects.h"

namespace rend::store::fs {

class FsObjectStore final : public ObjectStore {
 public:
  // Creates `root` if needed and removes temp files older than an hour (left by a
  // crash mid-upload; nothing refers to them).
  explicit FsObjectStore(std::filesystem::path root);

  std::unique_ptr<ObjectWriter> begin_put(const std::string& key) override;
  void put_bytes(const std::string& key, std::string_view data) override;
  void put_file(const std::string& key, const std::string& local_path) override;
  std::unique_ptr<ObjectReader> get(const std::string& key) override;
  std::optional<ObjectInfo> head(const std::string& key) override;
  bool get_to_file(const std::string& key, const std::string& local_path) override;
  std::vector<std::string> list(const std::string& prefix) override;
  size_t delete_prefix(const std::string& prefix) override;
  HealthStatus health() override;
  // A put renames a complete temp file into place (rename(2) is atomic), and an open
  // reader keeps its inode.
  ObjectStoreCapabilities capabilities() override { return {.atomic_replace = true, .streamed_parts = true}; }

  // Parts of any size; each is written at its offset and fsync'd before returning.
  uint64_t multipart_min_part_bytes() const override { return 1; }
  std::string begin_multipart(const std::string& key) override;
  StoredPart upload_part(const std::string& key, const std::string& handle, uint32_t number, uint64_t offset,
                         uint64_t size, const PartSource& body) override;
  void complete_multipart(const std::string& key, const std::string& handle,
                          const std::vector<StoredPart>& parts) override;
  void abort_multipart(const std::string& key, const std::string& handle) override;

  static constexpr const char* kTempDir = ".tmp";
  static constexpr const char* kMultipartDir = ".multipart";

 private:
  // Validates the key (std::invalid_argument) and maps it under root_.
  std::filesystem::path path_for(std::string_view key) const;
  // Validates a "dir/" prefix; returns the directory it names.
  std::filesystem::path dir_for_prefix(const std::string& prefix) const;
  // Removes `dir` and then its parents while they are empty, stopping at root_.
  void prune_empty_dirs(std::filesystem::path dir) const;
  void remove_stale_temp_files() const;
  // The temp file of a multipart handle (std::invalid_argument for a malformed one).
  std::filesystem::path multipart_path(const std::string& handle) const;

  std::filesystem::path root_;
  std::filesystem::path tmp_;
  std::filesystem::path multipart_;
};

}  // namespace rend::store::fs
