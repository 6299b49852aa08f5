# llhttp build glue.
#
# llhttp is the HTTP/1.x parser Node.js uses: a state machine generated from a
# TypeScript description (llparse), fast and well fuzzed. Debian ships it as C
# sources, not as a library (package node-llhttp: /usr/share/llhttp/*.c and
# /usr/share/include/llhttp/llhttp.h), so we compile those sources into our own
# static C library here.
#
# It is compiled WITHOUT duet_warnings: it is generated third-party code, and
# our -Werror must not break the build on a compiler upgrade that adds a
# warning to code we do not own.

find_path(LLHTTP_INCLUDE_DIR llhttp.h
  HINTS /usr/share/include/llhttp /usr/include/llhttp /usr/local/include/llhttp
  DOC "Directory holding llhttp.h")
find_path(LLHTTP_SOURCE_DIR llhttp.c
  HINTS /usr/share/llhttp /usr/local/share/llhttp
  DOC "Directory holding llhttp's C sources (llhttp.c api.c http.c)")

if(NOT LLHTTP_INCLUDE_DIR OR NOT LLHTTP_SOURCE_DIR
   OR NOT EXISTS ${LLHTTP_SOURCE_DIR}/api.c OR NOT EXISTS ${LLHTTP_SOURCE_DIR}/http.c)
  message(FATAL_ERROR
    "llhttp sources not found (looked for /usr/share/llhttp/{llhttp,api,http}.c and "
    "/usr/share/include/llhttp/llhttp.h). Install them with: apt-get install node-llhttp "
    "(or set LLHTTP_SOURCE_DIR and LLHTTP_INCLUDE_DIR).")
endif()
message(STATUS "llhttp: sources in ${LLHTTP_SOURCE_DIR}, header in ${LLHTTP_INCLUDE_DIR}")

add_library(duet_llhttp STATIC
  ${LLHTTP_SOURCE_DIR}/llhttp.c
  ${LLHTTP_SOURCE_DIR}/api.c
  ${LLHTTP_SOURCE_DIR}/http.c)
set_target_properties(duet_llhttp PROPERTIES C_STANDARD 99 POSITION_INDEPENDENT_CODE ON)
# llhttp.c holds two generated parsers; LLHTTP_STRICT_MODE=1 selects the strict
# one (it refuses "Host : x", control and non-ASCII bytes in the target, a bare
# CR after the header section, data after "Connection: close"). PUBLIC so that
# llhttp.h, where the macro also appears, agrees wherever it is included.
target_compile_definitions(duet_llhttp PUBLIC LLHTTP_STRICT_MODE=1)
# SYSTEM: warnings from llhttp.h must not fail our -Werror builds either.
target_include_directories(duet_llhttp SYSTEM PUBLIC ${LLHTTP_INCLUDE_DIR})
