# libFuzzer target of packages/: include() this from the top-level
# CMakeLists.txt after add_subdirectory(packages) when VM2OCI_FUZZ is ON.
# Needs clang (CC=clang). Run: ./fuzz_packages -max_total_time=120 CORPUS_DIR
if(VM2OCI_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "VM2OCI_FUZZ needs clang (configure with CC=clang)")
  endif()
  # Coverage for the library under test; the harness links libFuzzer.
  target_compile_options(vm2oci_packages PRIVATE -fsanitize=fuzzer-no-link,address,undefined)
  add_executable(fuzz_packages ${CMAKE_CURRENT_LIST_DIR}/fuzz_packages.c)
  target_compile_options(fuzz_packages PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_options(fuzz_packages PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_packages PRIVATE vm2oci_packages)
endif()
