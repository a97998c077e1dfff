#include "store/factory.h"

#include <filesystem>
#include <stdexcept>

#include "store/fs/object_store.h"
#include "store/memory/coordinator.h"
#include "store/sqlite/metadata_store.h"

namespace rend::store {

std::unique_ptr<MetadataStore> open_metadata_store(const std::string& database_url) {
  constexpr std::string_view kSqlite = "sqlite://";
  const auto scheme_end = database_url.find("://");
  // Only the scheme is ever echoed: the rest of a URL may carry a password.
  const std::string scheme = scheme_end == std::string::npos ? "" : database_url.substr(0, scheme_end);

  if (database_url.starts_with(kSqlite)) {
    const std::filesystem::path path = database_url.substr(kSqlite.size());
    if (path.empty())
      throw std::invalid_argument("DATABASE_URL: sqlite:// needs a file path, e.g. sqlite://.rend/dev/rend.db");
    if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path());
    return std::make_unique<sqlite::SqliteMetadataStore>(path.string());
  }
  if (scheme == "postgres" || scheme == "postgresql")
    throw std::invalid_argument("DATABASE_URL: postgres is not yet supported by this build; use sqlite://PATH");
  if (scheme.empty())
    throw std::invalid_argument("DATABASE_URL: expected a URL like sqlite://PATH");
  throw std::invalid_argument("DATABASE_URL: unsupported scheme '" + scheme + "'; expected sqlite://PATH");
}

std::unique_ptr<ObjectStore> open_fs_object_store(const std::string& dir) {
  return std::make_unique<fs::FsObjectStore>(dir);
}

std::unique_ptr<Coordinator> make_memory_coordinator() { return std::make_unique<memory::MemoryCoordinator>(); }

}  // namespace rend::store
