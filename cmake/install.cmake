# `cmake --install`: the engine as a library others build on.
#
#   <prefix>/lib/libduet.a, libduet_core.a, libduet_reactor.a [, libduet_proactor.a]
#   <prefix>/include/duet/core/*.h, core/coro/*.h   the public API (core/ only:
#                                                  reactor/ and proactor/ are private)
#   <prefix>/lib/cmake/duet/                        find_package(duet) -> duet::duet
#   <prefix>/lib/pkgconfig/duet.pc                  pkg-config --cflags --libs duet
#
# Consumers put <prefix>/include/duet on their include path (the package and
# duet.pc do it), so they write the same #include "core/tcp_server.h" lines as
# code in this repository.
include(CMakePackageConfigHelpers)

set(DUET_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/duet)
set(DUET_ENGINE_TARGETS duet duet_core duet_reactor)
if(DUET_WITH_URING)
  list(APPEND DUET_ENGINE_TARGETS duet_proactor)
endif()

install(TARGETS ${DUET_ENGINE_TARGETS} EXPORT duetTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/core/ DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/duet/core
        FILES_MATCHING PATTERN "*.h")
install(EXPORT duetTargets NAMESPACE duet:: DESTINATION ${DUET_INSTALL_CMAKEDIR})

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/duetConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/duetConfig.cmake INSTALL_DESTINATION ${DUET_INSTALL_CMAKEDIR})
# 0.x: a minor version may change the API, so only the same minor matches.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/duetConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/duetConfig.cmake ${PROJECT_BINARY_DIR}/duetConfigVersion.cmake
        DESTINATION ${DUET_INSTALL_CMAKEDIR})

# duet.pc: static libraries, so Libs lists each one (dependents before what
# they depend on) and liburing is a plain Requires, not Requires.private.
if(DUET_WITH_URING)
  set(DUET_PC_REQUIRES "liburing")
  set(DUET_PC_PROACTOR_LIB "-lduet_proactor")
else()
  set(DUET_PC_REQUIRES "")
  set(DUET_PC_PROACTOR_LIB "")
endif()
# The prefix is found from where duet.pc sits (pkg-config's ${pcfiledir}), so
# `cmake --install build --prefix P` gives a duet.pc that is right under P.
file(RELATIVE_PATH DUET_PC_UP_TO_PREFIX /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
configure_file(${PROJECT_SOURCE_DIR}/cmake/duet.pc.in ${PROJECT_BINARY_DIR}/duet.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/duet.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
