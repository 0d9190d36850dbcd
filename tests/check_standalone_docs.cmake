# Fails when a doc, header, source, test or tool points its reader outside the repository: to a path under
# /work or ../shared, to sections of an outside spec ("spec §"), or to private "stack notes". What a reader
# needs is written into docs/ instead (docs/attention.md, docs/benchmarks.md). Run with cmake -P -DROOT=<root>.
file(GLOB_RECURSE files RELATIVE ${ROOT}
     ${ROOT}/README.md ${ROOT}/CMakeLists.txt ${ROOT}/docs/*.md ${ROOT}/include/*.hpp ${ROOT}/lib/*.cpp
     ${ROOT}/lib/*.hpp ${ROOT}/tests/*.cpp ${ROOT}/tests/*.hpp ${ROOT}/tests/*.cmake ${ROOT}/tests/*.txt
     ${ROOT}/tools/*.py ${ROOT}/tools/*.sh ${ROOT}/bench/*.cpp ${ROOT}/bench/*.hpp ${ROOT}/bench/*.txt
     ${ROOT}/examples/*.cpp ${ROOT}/examples/*.hpp ${ROOT}/examples/*.md ${ROOT}/examples/*.txt ${ROOT}/cmake/*)
set(patterns "/work/" "../shared" "shared/spec" "spec §" "stack notes" "stack-notes")
set(found "")
foreach(f IN LISTS files)
  if(f STREQUAL "tests/check_standalone_docs.cmake")
    continue()
  endif()
  file(READ ${ROOT}/${f} text)
  string(TOLOWER "${text}" text)
  foreach(p IN LISTS patterns)
    string(FIND "${text}" "${p}" at)
    if(NOT at EQUAL -1)
      list(APPEND found "${f}: \"${p}\"")
    endif()
  endforeach()
endforeach()
list(LENGTH files checked)
if(found)
  list(JOIN found "\n  " lines)
  message(FATAL_ERROR "these files point outside the repository; write what the reader needs into docs/:\n  ${lines}")
endif()
message(STATUS "${checked} files checked: none points outside the repository")
