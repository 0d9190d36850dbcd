# CTest "install": installs the built xgrad into a scratch prefix, builds tests/install/ against
# it with find_package(xgrad), runs both programs, and checks README.md still shows
# readme_example.cpp verbatim. Run with cmake -P; the variables come from tests/CMakeLists.txt:
#   XGRAD_SOURCE_DIR, XGRAD_BINARY_DIR, WORK_DIR, BUILD_TYPE, CXX_COMPILER, CXX_FLAGS.

function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " shown "${ARGV}")
    message(FATAL_ERROR "install test: '${shown}' failed (${rc})")
  endif()
endfunction()

# The README block between the marker comment and the closing fence must equal the source file.
file(READ ${XGRAD_SOURCE_DIR}/README.md readme)
file(READ ${XGRAD_SOURCE_DIR}/tests/install/readme_example.cpp example)
string(FIND "${readme}" "<!-- tests/install/readme_example.cpp -->\n```cpp\n" start)
if(start EQUAL -1)
  message(FATAL_ERROR "install test: README.md lacks the marked readme_example.cpp code block")
endif()
string(SUBSTRING "${readme}" ${start} -1 block)
string(REGEX REPLACE "^[^\n]*\n```cpp\n" "" block "${block}")
string(FIND "${block}" "```" stop)
string(SUBSTRING "${block}" 0 ${stop} block)
if(NOT block STREQUAL example)
  message(FATAL_ERROR "install test: the code block in README.md differs from "
                      "tests/install/readme_example.cpp; keep them identical")
endif()

set(prefix ${WORK_DIR}/prefix)
set(consumer ${WORK_DIR}/consumer)
file(REMOVE_RECURSE ${WORK_DIR})
run(${CMAKE_COMMAND} --install ${XGRAD_BINARY_DIR} --prefix ${prefix})
run(${CMAKE_COMMAND} -S ${XGRAD_SOURCE_DIR}/tests/install -B ${consumer}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_BUILD_TYPE=${BUILD_TYPE}
    -DCMAKE_CXX_COMPILER=${CXX_COMPILER} "-DCMAKE_CXX_FLAGS=${CXX_FLAGS}")
run(${CMAKE_COMMAND} --build ${consumer})
run(${consumer}/app)
run(${consumer}/readme_example)
