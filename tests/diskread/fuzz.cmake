# libFuzzer targets for diskread's parsers, built only with -DVM2OCI_FUZZ=ON
# and clang (CC=clang). Included from tests/diskread/CMakeLists.txt.
#
#   fuzz_blockdev    raw, qcow2, vmdk, vhdx, vpc, vdi, qed images
#   fuzz_vmdk_desc   vmdk text descriptors (extents, parents, the file policy)
#   fuzz_partitions  MBR/EBR chains and GPT (a sparse disk of named sectors)
#   fuzz_fstab       the guest's /etc/fstab into a mount plan
#   fuzz_osrelease   os-release, lsb-release and "X release N" files
#   fuzz_journal     the ext3/4 journal replay
#   fuzz_lvm         LVM2 PV labels, metadata text, LV mapping
#
# The parsers are compiled into the targets themselves so that libFuzzer's
# coverage instrumentation sees them (fstab and os-release: disk.c is
# included by the target, the rest of vm2oci_diskread is linked).
# Seeds: tests/diskread/fuzz-seeds/<name>/, replayed in every build by the
# fuzz_replay_<name> tests (fuzz-replay.cmake).
if(VM2OCI_FUZZ)
  set(_vm2oci_dr ${CMAKE_CURRENT_LIST_DIR}/../../diskread)
  set(_vm2oci_dr_backends ${_vm2oci_dr}/blockdev.c ${_vm2oci_dr}/extent.c ${_vm2oci_dr}/raw.c
    ${_vm2oci_dr}/qcow2.c ${_vm2oci_dr}/vmdk.c ${_vm2oci_dr}/vhdx.c ${_vm2oci_dr}/vpc.c
    ${_vm2oci_dr}/vdi.c ${_vm2oci_dr}/qed.c)
  function(vm2oci_fuzz_target name)
    add_executable(${name} ${ARGN})
    target_include_directories(${name} PRIVATE ${_vm2oci_dr} ${_vm2oci_dr}/include)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined
      -fno-sanitize-recover=undefined)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer,address,undefined)
  endfunction()
  vm2oci_fuzz_target(fuzz_blockdev ${CMAKE_CURRENT_LIST_DIR}/fuzz_blockdev.c
    ${_vm2oci_dr_backends})
  target_link_libraries(fuzz_blockdev PRIVATE vm2oci_util PkgConfig::ZLIB PkgConfig::ZSTD)
  vm2oci_fuzz_target(fuzz_vmdk_desc ${CMAKE_CURRENT_LIST_DIR}/fuzz_vmdk_desc.c
    ${_vm2oci_dr_backends})
  target_link_libraries(fuzz_vmdk_desc PRIVATE vm2oci_util PkgConfig::ZLIB PkgConfig::ZSTD)
  vm2oci_fuzz_target(fuzz_partitions ${CMAKE_CURRENT_LIST_DIR}/fuzz_partitions.c
    ${_vm2oci_dr}/partition.c ${_vm2oci_dr_backends})
  target_link_libraries(fuzz_partitions PRIVATE vm2oci_util PkgConfig::ZLIB PkgConfig::ZSTD)
  foreach(_t fuzz_fstab fuzz_osrelease)
    vm2oci_fuzz_target(${_t} ${CMAKE_CURRENT_LIST_DIR}/${_t}.c)
    target_link_libraries(${_t} PRIVATE vm2oci_diskread)
  endforeach()
  # The LVM2 reader: label, mda header, the metadata text parser, LV mapping.
  vm2oci_fuzz_target(fuzz_lvm ${CMAKE_CURRENT_LIST_DIR}/fuzz_lvm.c ${_vm2oci_dr}/lvm.c
    ${_vm2oci_dr_backends})
  target_link_libraries(fuzz_lvm PRIVATE vm2oci_util PkgConfig::ZLIB PkgConfig::ZSTD)

  add_executable(fuzz_journal ${CMAKE_CURRENT_LIST_DIR}/fuzz_journal.c ${_vm2oci_dr}/ext_journal.c)
  target_include_directories(fuzz_journal PRIVATE ${_vm2oci_dr} ${_vm2oci_dr}/include)
  target_compile_options(fuzz_journal PRIVATE -fsanitize=fuzzer,address,undefined
    -fno-sanitize-recover=undefined)
  target_link_options(fuzz_journal PRIVATE -fsanitize=fuzzer,address,undefined)
  target_link_libraries(fuzz_journal PRIVATE vm2oci_util PkgConfig::EXT2FS)
endif()
