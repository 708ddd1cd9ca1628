# The image module's fuzz harnesses (fuzz_tar_layer: the base layer reader and
# the tree cache; fuzz_oci_json: config, index and manifest parsers), linked
# with fuzz_replay.c into *_replay tests that run the committed seed corpus in
# every build, without libFuzzer.
set(_vm2oci_img_fuzz ${CMAKE_CURRENT_LIST_DIR})
foreach(_t fuzz_tar_layer fuzz_oci_json)
  add_executable(${_t}_replay ${_vm2oci_img_fuzz}/${_t}.c ${_vm2oci_img_fuzz}/fuzz_replay.c)
  target_include_directories(${_t}_replay PRIVATE ${CMAKE_SOURCE_DIR}/image)
  target_link_libraries(${_t}_replay PRIVATE vm2oci_image PkgConfig::JANSSON)
endforeach()
add_test(NAME fuzz_tar_layer_replay COMMAND fuzz_tar_layer_replay ${_vm2oci_img_fuzz}/seeds-tar)
add_test(NAME fuzz_oci_json_replay COMMAND fuzz_oci_json_replay ${_vm2oci_img_fuzz}/seeds-json)
# The libFuzzer builds of both harnesses are in cmake/fuzz.cmake.
