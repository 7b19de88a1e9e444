# lockaudit::gtest (<lockaudit/gtest.h>: listener, scopes, macros, matchers) and
# lockaudit::gtest_main (main() that installs the listener). Included from lockaudit/CMakeLists.txt.
#
# Static libraries: they call into the test binary's own GoogleTest (one UnitTest singleton), so
# they must be linked into the test executable next to it, never into a shared library with its
# own copy. Built when GoogleTest is found; skipped with one message when not.
#
# liblockaudit_gtest_preload.so (gtest_preload/) needs no GoogleTest at build time: the same
# reporting for unmodified test binaries run under the shim.
add_subdirectory(${CMAKE_CURRENT_SOURCE_DIR}/gtest_preload)

# GLOBAL: the top-level find_package(GTest) then reuses these targets.
find_package(GTest CONFIG QUIET GLOBAL)
if(NOT GTest_FOUND)
  message(STATUS "lockaudit: GoogleTest not found; lockaudit::gtest and lockaudit::gtest_main not built")
  set(LOCKAUDIT_WITH_GTEST OFF PARENT_SCOPE)
  return()
endif()
set(LOCKAUDIT_WITH_GTEST ON PARENT_SCOPE)  # read by cmake/lockauditConfig.cmake.in

add_library(lockaudit_gtest STATIC src/gtest.cc)
add_library(lockaudit::gtest ALIAS lockaudit_gtest)
target_include_directories(lockaudit_gtest PUBLIC
  $<BUILD_INTERFACE:${CMAKE_CURRENT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
target_compile_options(lockaudit_gtest PRIVATE -Wall -Wextra)
target_link_libraries(lockaudit_gtest PUBLIC lockaudit::lockaudit GTest::gtest)
set_target_properties(lockaudit_gtest PROPERTIES EXPORT_NAME gtest POSITION_INDEPENDENT_CODE ON)

add_library(lockaudit_gtest_main STATIC src/gtest_main.cc)
add_library(lockaudit::gtest_main ALIAS lockaudit_gtest_main)
target_compile_options(lockaudit_gtest_main PRIVATE -Wall -Wextra)
target_link_libraries(lockaudit_gtest_main PUBLIC lockaudit_gtest)
set_target_properties(lockaudit_gtest_main PROPERTIES EXPORT_NAME gtest_main
  POSITION_INDEPENDENT_CODE ON)

install(TARGETS lockaudit_gtest lockaudit_gtest_main EXPORT lockauditTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
