# libFuzzer targets for the block device parsers (raw, qcow2, vmdk), LVM2 and
# the ext3/4 journal replay, built only
# with -DVM2OCI_FUZZ=ON and clang (CC=clang). Include it from
# tests/diskread/CMakeLists.txt:  include(${CMAKE_CURRENT_SOURCE_DIR}/fuzz.cmake)
#
# The parsers are compiled into the target itself so that libFuzzer's coverage
# instrumentation sees them; the rest of vm2oci_diskread is not needed.
if(VM2OCI_FUZZ)
  set(_vm2oci_dr ${CMAKE_CURRENT_LIST_DIR}/../../diskread)
  add_executable(fuzz_blockdev ${CMAKE_CURRENT_LIST_DIR}/fuzz_blockdev.c
    ${_vm2oci_dr}/blockdev.c ${_vm2oci_dr}/raw.c ${_vm2oci_dr}/qcow2.c ${_vm2oci_dr}/vmdk.c)
  target_include_directories(fuzz_blockdev PRIVATE ${_vm2oci_dr})
  target_compile_options(fuzz_blockdev PRIVATE -fsanitize=fuzzer,address,undefined
    -fno-sanitize-recover=undefined)
  target_link_options(fuzz_blockdev PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_blockdev PRIVATE vm2oci_util PkgConfig::ZLIB PkgConfig::ZSTD)
  # The LVM2 reader: label, mda header, the metadata text parser, LV mapping.
  add_executable(fuzz_lvm ${CMAKE_CURRENT_LIST_DIR}/fuzz_lvm.c ${_vm2oci_dr}/lvm.c
    ${_vm2oci_dr}/blockdev.c ${_vm2oci_dr}/raw.c ${_vm2oci_dr}/qcow2.c ${_vm2oci_dr}/vmdk.c)
  target_include_directories(fuzz_lvm PRIVATE ${_vm2oci_dr})
  target_compile_options(fuzz_lvm PRIVATE -fsanitize=fuzzer,address,undefined
    -fno-sanitize-recover=undefined)
  target_link_options(fuzz_lvm PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_lvm PRIVATE vm2oci_util PkgConfig::ZLIB PkgConfig::ZSTD)

  add_executable(fuzz_journal ${CMAKE_CURRENT_LIST_DIR}/fuzz_journal.c ${_vm2oci_dr}/ext_journal.c)
  target_include_directories(fuzz_journal PRIVATE ${_vm2oci_dr})
  target_compile_options(fuzz_journal PRIVATE -fsanitize=fuzzer,address,undefined
    -fno-sanitize-recover=undefined)
  target_link_options(fuzz_journal PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_journal PRIVATE vm2oci_util PkgConfig::EXT2FS)
endif()
