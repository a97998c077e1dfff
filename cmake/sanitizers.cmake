# Sanitizer and fuzzing builds, chosen by cache options rather than hand-set flags,
# so a sanitized tree is one configure away: -DREND_SANITIZE=address,undefined
# (make asan), -DREND_SANITIZE=thread (make tsan), -DREND_FUZZ=ON (make fuzz,
# clang only). Flags apply to every target of the tree, tests included, so that a
# sanitized library is never linked into an unsanitized test (ASan's checks and
# TSan's happens-before tracking need every TU that touches the memory).
set(REND_SANITIZE "" CACHE STRING "comma-separated -fsanitize= list for the whole tree (e.g. address,undefined or thread)")
option(REND_FUZZ "build the libFuzzer targets in fuzz/ (clang; implies address,undefined)" OFF)

set(_rend_sanitize "${REND_SANITIZE}")
if(REND_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "REND_FUZZ needs clang (libFuzzer): configure with CC=clang CXX=clang++")
  endif()
  if(NOT _rend_sanitize)
    set(_rend_sanitize "address,undefined")
  endif()
endif()

if(_rend_sanitize)
  if(_rend_sanitize MATCHES "thread" AND _rend_sanitize MATCHES "address")
    message(FATAL_ERROR "REND_SANITIZE: thread and address cannot be combined")
  endif()
  set(_rend_san_flags -fsanitize=${_rend_sanitize} -fno-omit-frame-pointer)
  if(_rend_sanitize MATCHES "undefined")
    # A UB report fails the test that caused it instead of scrolling past.
    list(APPEND _rend_san_flags -fno-sanitize-recover=undefined)
  endif()
  add_compile_options(${_rend_san_flags})
  add_link_options(${_rend_san_flags})
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # gcc 12's -Wmaybe-uninitialized misfires on libstdc++'s own <regex> internals
    # (std::function moved inside _NFA::_M_insert_*, 14 reports per TU that uses
    # std::regex) once the sanitizers change inlining. Off in sanitized gcc trees
    # only: the unsanitized build (build/) keeps it, as an error.
    add_compile_options(-Wno-maybe-uninitialized)
  endif()
  message(STATUS "rend: sanitizers ${_rend_sanitize}")
endif()

if(REND_FUZZ)
  # Every library gets coverage instrumentation (no libFuzzer main); the fuzz
  # executables themselves link -fsanitize=fuzzer (fuzz/CMakeLists.txt).
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
