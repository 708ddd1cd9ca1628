# Every libFuzzer target of the project, built only with -DVM2OCI_FUZZ=ON and
# clang (CC=clang). Run: build/fuzz_NAME -max_total_time=600 CORPUS_DIR SEEDS
#
# Each harness (tests/<module>/...) is compiled together with the parsers it
# fuzzes, so that libFuzzer's coverage instrumentation sees them, while the
# module libraries keep their own flags for every other consumer. The seeds
# are replayed without libFuzzer in every build by the fuzz_replay_* and
# *_replay tests of each module's tests/ folder.
if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
  message(FATAL_ERROR "VM2OCI_FUZZ needs clang (configure with CC=clang)")
endif()

set(_vm2oci_fuzz_flags -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined)

# vm2oci_add_fuzzer(NAME HARNESS file.c MODULE dir [SOURCES module files...] [LIBS ...])
function(vm2oci_add_fuzzer name)
  cmake_parse_arguments(F "" "MODULE;HARNESS" "SOURCES;LIBS" ${ARGN})
  set(dir ${CMAKE_SOURCE_DIR}/${F_MODULE})
  list(TRANSFORM F_SOURCES PREPEND ${dir}/)
  add_executable(${name} ${CMAKE_SOURCE_DIR}/tests/${F_HARNESS} ${F_SOURCES})
  # The module's internal headers too: the harness is built as part of it.
  target_include_directories(${name} PRIVATE ${dir} ${dir}/include)
  target_compile_options(${name} PRIVATE ${_vm2oci_fuzz_flags})
  target_link_options(${name} PRIVATE ${_vm2oci_fuzz_flags})
  target_link_libraries(${name} PRIVATE vm2oci_util ${F_LIBS})
endfunction()

# packages: every package database reader.
get_target_property(_vm2oci_pkg_sources vm2oci_packages SOURCES)
vm2oci_add_fuzzer(fuzz_packages HARNESS packages/fuzz_packages.c MODULE packages
  SOURCES ${_vm2oci_pkg_sources} LIBS PkgConfig::SQLITE PkgConfig::ZLIB PkgConfig::JANSSON)

# diskread:
#   fuzz_blockdev    raw, qcow2, vmdk, vhdx, vpc, vdi, qed images
#   fuzz_vmdk_desc   vmdk text descriptors (extents, parents, the file policy)
#   fuzz_partitions  MBR/EBR chains and GPT (a sparse disk of named sectors)
#   fuzz_fstab       the guest's /etc/fstab into a mount plan (disk.c is
#   fuzz_osrelease   os-release, lsb-release, "X release N"  included by them)
#   fuzz_journal     the ext3/4 journal replay
#   fuzz_lvm         LVM2 PV labels, metadata text, LV mapping
set(_vm2oci_dr_backends blockdev.c extent.c raw.c qcow2.c vmdk.c vhdx.c vpc.c vdi.c qed.c)
foreach(_t fuzz_blockdev fuzz_vmdk_desc)
  vm2oci_add_fuzzer(${_t} HARNESS diskread/${_t}.c MODULE diskread
    SOURCES ${_vm2oci_dr_backends} LIBS PkgConfig::ZLIB PkgConfig::ZSTD)
endforeach()
vm2oci_add_fuzzer(fuzz_partitions HARNESS diskread/fuzz_partitions.c MODULE diskread
  SOURCES partition.c ${_vm2oci_dr_backends} LIBS PkgConfig::ZLIB PkgConfig::ZSTD)
foreach(_t fuzz_fstab fuzz_osrelease)
  vm2oci_add_fuzzer(${_t} HARNESS diskread/${_t}.c MODULE diskread LIBS vm2oci_diskread)
endforeach()
vm2oci_add_fuzzer(fuzz_journal HARNESS diskread/fuzz_journal.c MODULE diskread
  SOURCES ext_journal.c LIBS PkgConfig::EXT2FS)
vm2oci_add_fuzzer(fuzz_lvm HARNESS diskread/fuzz_lvm.c MODULE diskread
  SOURCES lvm.c ${_vm2oci_dr_backends} LIBS PkgConfig::ZLIB PkgConfig::ZSTD)

# fsdiff: fuzz_filter, the --filter-from / label parser and rsync's matching
# over a tree (tests/fsdiff/fuzz-seeds/filter).
vm2oci_add_fuzzer(fuzz_filter HARNESS fsdiff/fuzz_filter.c MODULE fsdiff SOURCES filter.c)

# image: fuzz_tar_layer (the base layer reader and the tree cache) and
# fuzz_oci_json (config, index and manifest parsers), each with a 30 s smoke
# run in the suite; new inputs go to a scratch corpus, never into the seeds.
get_target_property(_vm2oci_img_sources vm2oci_image SOURCES)
foreach(_t fuzz_tar_layer fuzz_oci_json)
  vm2oci_add_fuzzer(${_t} HARNESS image/fuzz/${_t}.c MODULE image
    SOURCES ${_vm2oci_img_sources}
    LIBS $<TARGET_PROPERTY:vm2oci_image,LINK_LIBRARIES>)
endforeach()
set(_vm2oci_img_seeds ${CMAKE_SOURCE_DIR}/tests/image/fuzz)
foreach(_pair "fuzz_tar_layer;seeds-tar" "fuzz_oci_json;seeds-json")
  list(GET _pair 0 _t)
  list(GET _pair 1 _s)
  add_test(NAME ${_t}_smoke COMMAND sh -c
    "d=$(mktemp -d) && \"$0\" -max_total_time=30 -timeout=20 \"$d\" \"$1\"; rc=$?; rm -rf \"$d\"; exit $rc"
    $<TARGET_FILE:${_t}> ${_vm2oci_img_seeds}/${_s})
endforeach()

# runtime: unit files, drop-ins, environment files, init scripts, inittab,
# daemon configurations, passwd and group, as small guest trees in memory.
get_target_property(_vm2oci_rt_sources vm2oci_runtime SOURCES)
vm2oci_add_fuzzer(fuzz_runtime HARNESS runtime/fuzz_runtime.c MODULE runtime
  SOURCES ${_vm2oci_rt_sources})

# registry: WWW-Authenticate challenges, token answers, auth files, error
# bodies, manifests and references (fuzz_registry_replay replays the seeds).
get_target_property(_vm2oci_reg_sources vm2oci_registry SOURCES)
vm2oci_add_fuzzer(fuzz_registry HARNESS registry/fuzz_registry.c MODULE registry
  SOURCES ${_vm2oci_reg_sources} LIBS PkgConfig::CURL PkgConfig::JANSSON)
add_test(NAME fuzz_registry_smoke COMMAND sh -c
  "d=$(mktemp -d) && \"$0\" -max_total_time=30 -timeout=20 \"$d\" \"$1\"; rc=$?; rm -rf \"$d\"; exit $rc"
  $<TARGET_FILE:fuzz_registry> ${CMAKE_SOURCE_DIR}/tests/registry/fuzz-seeds)
