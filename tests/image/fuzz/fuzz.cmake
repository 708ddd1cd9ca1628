# The image module's libFuzzer targets (fuzz_tar_layer: the base layer
# reader and the tree cache; fuzz_oci_json: config, index and manifest
# parsers), built only with -DVM2OCI_FUZZ=ON and clang. The module's sources
# are compiled into each target so coverage sees them; other consumers of
# vm2oci_image keep their flags.
#
# Without libFuzzer the same entry points are linked with fuzz_replay.c into
# *_replay tests that run the committed seed corpus in every build.
set(_vm2oci_img_fuzz ${CMAKE_CURRENT_LIST_DIR})
foreach(_t fuzz_tar_layer fuzz_oci_json)
  add_executable(${_t}_replay ${_vm2oci_img_fuzz}/${_t}.c ${_vm2oci_img_fuzz}/fuzz_replay.c)
  target_include_directories(${_t}_replay PRIVATE ${CMAKE_SOURCE_DIR}/image)
  target_link_libraries(${_t}_replay PRIVATE vm2oci_image PkgConfig::JANSSON)
endforeach()
add_test(NAME fuzz_tar_layer_replay COMMAND fuzz_tar_layer_replay ${_vm2oci_img_fuzz}/seeds-tar)
add_test(NAME fuzz_oci_json_replay COMMAND fuzz_oci_json_replay ${_vm2oci_img_fuzz}/seeds-json)

if(VM2OCI_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "VM2OCI_FUZZ needs clang (configure with CC=clang)")
  endif()
  get_target_property(_vm2oci_img_src vm2oci_image SOURCES)
  list(TRANSFORM _vm2oci_img_src PREPEND ${CMAKE_SOURCE_DIR}/image/)
  foreach(_t fuzz_tar_layer fuzz_oci_json)
    add_executable(${_t} ${_vm2oci_img_fuzz}/${_t}.c ${_vm2oci_img_src})
    target_include_directories(${_t} PRIVATE ${CMAKE_SOURCE_DIR}/image)
    target_compile_options(${_t} PRIVATE -fsanitize=fuzzer,address,undefined
      -fno-sanitize-recover=undefined)
    target_link_options(${_t} PRIVATE -fsanitize=fuzzer,address,undefined)
    # The module's own dependencies, whatever they become.
    target_link_libraries(${_t} PRIVATE $<TARGET_PROPERTY:vm2oci_image,LINK_LIBRARIES>)
    # A short run in the suite; the long runs are by hand (see the file's head).
    # New inputs go to a scratch corpus, never into the committed seeds.
    set(_seeds ${_vm2oci_img_fuzz}/seeds-tar)
    if(_t STREQUAL fuzz_oci_json)
      set(_seeds ${_vm2oci_img_fuzz}/seeds-json)
    endif()
    add_test(NAME ${_t}_smoke COMMAND sh -c
      "d=$(mktemp -d) && \"$0\" -max_total_time=30 -timeout=20 \"$d\" \"$1\"; rc=$?; rm -rf \"$d\"; exit $rc"
      $<TARGET_FILE:${_t}> ${_seeds})
  endforeach()
endif()
