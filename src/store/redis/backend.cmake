# Redis Coordinator (REDIS_URL): cross-process job wake-ups and shared rate limits.
# Included by src/store/CMakeLists.txt. Debian: libhiredis-dev.
find_package(PkgConfig REQUIRED)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)

set(rend_backend_dir ${CMAKE_CURRENT_LIST_DIR})
rend_store_backend(rend_store_redis
  SOURCES ${rend_backend_dir}/url.cpp ${rend_backend_dir}/connection.cpp ${rend_backend_dir}/coordinator.cpp
  DEPS PkgConfig::HIREDIS
  TESTS ${rend_backend_dir}/coordinator_test.cpp)
