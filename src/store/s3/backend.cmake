# S3-compatible object store (AWS S3, MinIO, s3rver). include()d by
# src/store/CMakeLists.txt, so paths are relative to that directory.
rend_store_backend(rend_store_s3
  SOURCES s3/client.cpp s3/md5.cpp s3/object_store.cpp s3/reader.cpp s3/url.cpp s3/xml.cpp
  DEPS CURL::libcurl OpenSSL::Crypto
  TESTS s3/s3_util_test.cpp)
