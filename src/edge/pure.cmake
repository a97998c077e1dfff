# Pure (I/O-free) edge helpers: playback path parsing, HLS playlist rewriting, Range and
# If-None-Match evaluation.
# Included from src/edge/CMakeLists.txt; paths are relative to this file so the include
# works from any directory.
rend_library(rend_edge_pure
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/paths.cpp ${CMAKE_CURRENT_LIST_DIR}/playlist_rewrite.cpp
          ${CMAKE_CURRENT_LIST_DIR}/conditional.cpp
  DEPS rend_core)
rend_test(rend_edge_pure_test
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/paths_test.cpp ${CMAKE_CURRENT_LIST_DIR}/playlist_rewrite_test.cpp
          ${CMAKE_CURRENT_LIST_DIR}/conditional_test.cpp
  DEPS rend_edge_pure)
