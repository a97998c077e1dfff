#pragma once
// Backend-independent local-file conveniences, so every ObjectStore implements
// put_file / get_to_file the same way on top of its own writer and reader.
#include <string>

#include "store/objects.h"

namespace rend::store {

// Streams a local file into `writer` without committing it.
void copy_file_to_writer(const std::string& local_path, ObjectWriter& writer);
// Streams `reader` into a local file, creating or truncating it.
void copy_reader_to_file(ObjectReader& reader, const std::string& local_path);

}  // namespace rend::store
