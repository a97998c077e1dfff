# Edge side of playback telemetry (SPEC §7): queue, batching, spool and replay.
# Included from src/edge/CMakeLists.txt; paths are relative to this file.
rend_library(rend_edge_telemetry
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/spool.cpp
    ${CMAKE_CURRENT_LIST_DIR}/pipeline.cpp
    ${CMAKE_CURRENT_LIST_DIR}/http_sender.cpp
  DEPS rend_core rend_store_base rend_http)
rend_test(rend_edge_telemetry_test
  SOURCES
    ${CMAKE_CURRENT_LIST_DIR}/spool_test.cpp
    ${CMAKE_CURRENT_LIST_DIR}/pipeline_test.cpp
  DEPS rend_edge_telemetry)
