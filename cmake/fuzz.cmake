# libFuzzer targets of packages/ (diskread's are in tests/diskread/fuzz.cmake),
# built only with -DVM2OCI_FUZZ=ON and clang (CC=clang).
# Run: build/fuzz_blockdev -max_total_time=120 CORPUS_DIR
#
# Each harness (tests/<module>/<name>.c) is compiled together with the
# parsers it fuzzes, so that libFuzzer's coverage instrumentation sees them,
# while the module libraries keep their own flags for every other consumer.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "VM2OCI_FUZZ needs clang (configure with CC=clang)")
endif()

# vm2oci_add_fuzzer(NAME MODULE dir SOURCES file.c... [LIBS ...])
function(vm2oci_add_fuzzer name)
  cmake_parse_arguments(F "" "MODULE" "SOURCES;LIBS" ${ARGN})
  set(dir ${CMAKE_SOURCE_DIR}/${F_MODULE})
  list(TRANSFORM F_SOURCES PREPEND ${dir}/)
  add_executable(${name} ${CMAKE_SOURCE_DIR}/tests/${F_MODULE}/${name}.c ${F_SOURCES})
  # The module's internal headers too: the harness is built as part of it.
  target_include_directories(${name} PRIVATE ${dir} ${dir}/include)
  set(flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)
  target_compile_options(${name} PRIVATE ${flags})
  target_link_options(${name} PRIVATE ${flags})
  target_link_libraries(${name} PRIVATE vm2oci_util ${F_LIBS})
endfunction()

# Package database readers: all of packages/.
get_target_property(_vm2oci_pkg_sources vm2oci_packages SOURCES)
vm2oci_add_fuzzer(fuzz_packages MODULE packages
  SOURCES ${_vm2oci_pkg_sources}
  LIBS PkgConfig::SQLITE)
