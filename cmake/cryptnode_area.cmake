# An "area" is one folder of sources (engine/src/<area>, sim/src/<area>) built as its own static
# library cn_<area>, so a test of one area compiles only that area and the areas it names.
#
#   cryptnode_area(<layer> <area> DEPS <cn_other ...> LIBS <imported targets ...>)
#
# Tests: every <layer>/tests/<area>_*_test.cpp becomes an executable linked with cn_<area> and
# GoogleTest, and its tests are registered with ctest (label = layer).
function(cryptnode_area layer area)
  cmake_parse_arguments(A "" "" "DEPS;LIBS" ${ARGN})
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${layer}/src/${area}/*.cpp)
  if(srcs)
    add_library(cn_${area} STATIC ${srcs})
  else()
    add_library(cn_${area} INTERFACE)
  endif()
  get_target_property(type cn_${area} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    set(vis INTERFACE)
  else()
    set(vis PUBLIC)
  endif()
  target_include_directories(cn_${area} ${vis} ${PROJECT_SOURCE_DIR}/engine/include
                                               ${PROJECT_SOURCE_DIR}/sim/include)
  target_link_libraries(cn_${area} ${vis} ${A_DEPS} ${A_LIBS} Threads::Threads)
  set_property(GLOBAL APPEND PROPERTY CRYPTNODE_${layer}_AREAS cn_${area})

  if(CRYPTNODE_TESTS)
    file(GLOB tests CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${layer}/tests/${area}_*_test.cpp)
    foreach(t ${tests})
      get_filename_component(name ${t} NAME_WE)
      add_executable(${name} ${t})
      target_link_libraries(${name} PRIVATE cn_${area} GTest::gtest_main GTest::gmock)
      target_compile_definitions(${name} PRIVATE
        CRYPTNODE_SOURCE_DIR="${PROJECT_SOURCE_DIR}" CRYPTNODE_BINARY_DIR="${PROJECT_BINARY_DIR}")
      gtest_discover_tests(${name} PROPERTIES LABELS ${layer} DISCOVERY_TIMEOUT 30)
    endforeach()
  endif()
  if(CRYPTNODE_BENCH)
    file(GLOB benches CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${layer}/bench/${area}_*_bench.cpp)
    foreach(b ${benches})
      get_filename_component(name ${b} NAME_WE)
      add_executable(${name} ${b})
      target_link_libraries(${name} PRIVATE cn_${area} benchmark::benchmark)
    endforeach()
  endif()
endfunction()
