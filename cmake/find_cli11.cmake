# CLI11, the command-line parser of the apps (apps/) and of the benchmark
# programs (bench/load, bench/baselines). Each of those directories includes
# this file itself, so CLI11 is looked for only when one of them is built.
# Debian's libcli11-dev ships a CMake package; elsewhere the header is enough.
find_package(CLI11 CONFIG QUIET)
if(NOT CLI11_FOUND)
  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp)
  if(NOT CLI11_INCLUDE_DIR)
    message(FATAL_ERROR "CLI11 not found (the apps and benchmarks need it): apt-get install libcli11-dev, "
                        "or -DDUET_BUILD_APPS=OFF")
  endif()
  add_library(CLI11::CLI11 INTERFACE IMPORTED)
  target_include_directories(CLI11::CLI11 INTERFACE ${CLI11_INCLUDE_DIR})
endif()
