# otpnet_layer(NAME DEPS dep...)
#   One static library per layer from src/NAME/*.cpp (tests excluded), with
#   public headers under include/otpnet/NAME/ and an explicit dependency list.
#   Each target sees only its own public headers and those of its DEPS, so an
#   include of a layer further down the list fails the build.
#   Unit tests src/NAME/*.test.cpp become one GoogleTest binary,
#   otpnet_NAME_test, whose tests ctest runs one process each, with a timeout.
# otpnet_test_program(TARGET)
#   How a test program's own sources are compiled, in every preset:
#   line tables only (-g1: a backtrace, gdb's `bt` and a sanitizer's report
#   still name file and line; no variable or type information) and, in the
#   optimised configuration, -O1 instead of -O2. The libraries and programs
#   under test keep the preset's flags (release: -O2 -g): only the tests' own
#   code, and what it instantiates from the headers, is built this way. It
#   halves the time a test source takes to compile in the release build (a
#   2-core CI machine spent most of a run compiling). Precompiled headers were
#   tried and dropped: no gain measured, and clang-tidy cannot read GCC's.
#
#   With OTPNET_UNITY_TESTS (on by default) the test sources are compiled
#   OTPNET_UNITY_BATCH at a time as one translation unit (CMake's unity
#   build): the headers they share (gtest, the layers' own) are parsed once
#   per batch instead of once per file, which halves the tests' compile time
#   again. So what one test source declares at namespace scope (in its
#   anonymous namespace, a using-declaration, an alias, a namespace of its
#   own such as gen_tcp::test, which hides otpnet::test) is seen by the
#   sources after it in its batch: names must not repeat across the sources
#   of one program (a helper two of them need goes in a header: see
#   tests/support/). Most repeats fail to compile; some do not (an overload,
#   a class and a function of one name), so give local helpers distinct
#   names. -Wsubobject-linkage, which misfires on sources included into one
#   another, is off for them (GCC; clang has no such warning). Turn it off
#   (-DOTPNET_UNITY_TESTS=OFF) to see each test source on its own; the tidy
#   preset does, so its compile_commands.json lists them for clang-tidy.
option(OTPNET_UNITY_TESTS "Compile the test programs' sources in batches (unity build)" ON)
set(OTPNET_UNITY_BATCH 8 CACHE STRING "Test sources per unity batch (0: a whole program in one)")

# OTPNET_UNITY_LIBS (off; on in the release, asan and tsan presets) does the
# same for the layers' own sources: they compile in about 60 % of the time.
# clang-tidy reads the compile commands of the tidy preset, a tree that is
# only configured, with both options off (one entry per source). So the
# sources of one layer follow the same rule (those builds fail on most
# repeats).
option(OTPNET_UNITY_LIBS "Compile the layers' own sources in batches too (the release and sanitizer presets)" OFF)

function(otpnet_test_program target)
  target_compile_options(${target} PRIVATE -g1 $<$<CONFIG:RelWithDebInfo>:-O1>)
  if(OTPNET_UNITY_TESTS)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${OTPNET_UNITY_BATCH})
    target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-subobject-linkage>)
  endif()
endfunction()

function(otpnet_layer name)
  cmake_parse_arguments(L "" "" "DEPS;LIBS;TEST_LIBS" ${ARGN})
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.cpp)
  file(GLOB tests CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${name}/*.test.cpp)
  list(REMOVE_ITEM srcs ${tests})
  set(target otpnet_${name})
  if(NOT srcs)
    # A layer not written yet: an interface target keeps the graph intact.
    add_library(${target} INTERFACE)
    target_link_libraries(${target} INTERFACE otpnet_base)
    return()
  endif()
  add_library(${target} STATIC ${srcs})
  if(OTPNET_UNITY_LIBS)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_BATCH_SIZE ${OTPNET_UNITY_BATCH})
    target_compile_options(${target} PRIVATE $<$<CXX_COMPILER_ID:GNU>:-Wno-subobject-linkage>)
  endif()
  # Public headers of this layer only: a private include root per layer,
  # holding a link to include/otpnet/NAME, keeps other layers' headers out.
  set(root ${PROJECT_BINARY_DIR}/layer-include/${name})
  file(MAKE_DIRECTORY ${root}/otpnet)
  file(CREATE_LINK ${PROJECT_SOURCE_DIR}/include/otpnet/${name} ${root}/otpnet/${name} SYMBOLIC)
  target_include_directories(${target} PUBLIC ${root} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  set(deps)
  foreach(d ${L_DEPS})
    list(APPEND deps otpnet_${d})
  endforeach()
  target_link_libraries(${target} PUBLIC ${deps} ${L_LIBS})
  if(OTPNET_TESTS AND tests)
    add_executable(${target}_test ${tests})
    target_include_directories(${target}_test PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
    target_link_libraries(${target}_test PRIVATE ${target} otpnet_test_support ${L_TEST_LIBS} GTest::gtest GTest::gmock GTest::gtest_main)
    otpnet_test_program(${target}_test)
    gtest_discover_tests(${target}_test DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 120 LABELS ${name})
  endif()
endfunction()
