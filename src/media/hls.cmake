# HLS playlist writing and parsing (RFC 8216): pure, core only. Included from
# src/media/CMakeLists.txt and src/edge/CMakeLists.txt (the edge reads segment
# durations from playlists), so either builds without the other.
if(NOT TARGET rend_hls)
  rend_library(rend_hls
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/hls.cpp
    DEPS rend_core)
endif()
