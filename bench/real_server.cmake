# bench/real_server.cmake: the real-server check (memcached under the lockaudit shim, natively, and via
# `lockaudit run`, with the same bounded load). include()d from bench/CMakeLists.txt.
# Needs memcached and python3 on PATH; the script exits 77 (test skipped) when memcached is missing.
#
#   ctest -L stress -R real_server --output-on-failure
add_test(NAME real_server_memcached
         COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/real_server.sh --build-dir ${PROJECT_BINARY_DIR}
                 --duration 3 --check)
set_tests_properties(real_server_memcached PROPERTIES
                     LABELS stress
                     TIMEOUT 120
                     SKIP_RETURN_CODE 77
                     # the script starts its own server and load; do not overlap other heavy tests
                     RUN_SERIAL TRUE)
