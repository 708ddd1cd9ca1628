# Smoke replay of the fuzz targets' committed seed corpora in every build
# (gcc or clang, no libFuzzer): fuzz_replay.c's main() feeds each seed to the
# target once, so its own checks (and, in build-asan/, the sanitizers) run
# in CTest. The real fuzzing is fuzz.cmake's, by hand.
foreach(_t partitions fstab osrelease vmdk_desc)
  add_executable(fuzz_replay_${_t} ${CMAKE_CURRENT_LIST_DIR}/fuzz_${_t}.c
    ${CMAKE_CURRENT_LIST_DIR}/fuzz_replay.c)
  target_include_directories(fuzz_replay_${_t} PRIVATE ${CMAKE_SOURCE_DIR}/diskread ${CMAKE_SOURCE_DIR}/diskread/include)
  target_link_libraries(fuzz_replay_${_t} PRIVATE vm2oci_diskread)
  add_test(NAME fuzz_replay_${_t}
    COMMAND fuzz_replay_${_t} ${CMAKE_CURRENT_LIST_DIR}/fuzz-seeds/${_t})
endforeach()
