# Redis Coordinator (REDIS_URL): cross-process job wake-ups and shared rate limits.
# Included by src/store/CMakeLists.txt. Debian: libhiredis-dev.
find_package(PkgConfig REQUIRED)
pkg_check_modules(HIREDIS REQUIRED IMPORTED_TARGET hiredis)

rend_library(rend_store_redis
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/url.cpp
    ${CMAKE_CURRENT_LIST_DIR}/connection.cpp
    ${CMAKE_CURRENT_LIST_DIR}/coordinator.cpp
  DEPS rend_store_base PkgConfig::HIREDIS)

list(APPEND REND_STORE_BACKENDS rend_store_redis)
list(APPEND REND_STORE_BACKEND_TESTS ${CMAKE_CURRENT_LIST_DIR}/coordinator_test.cpp)
