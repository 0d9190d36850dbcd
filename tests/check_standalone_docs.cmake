# Fails when a doc, header, source, test or tool points its reader outside the repository: to the build
# machine's work tree or its sibling shared folder, to numbered sections of an outside specification, or to
# private notes about the stack. What a reader needs is written into docs/ instead (docs/attention.md,
# docs/benchmarks.md). The patterns are assembled below, so this file does not match itself.
# Run with cmake -P -DROOT=<root>.
file(GLOB_RECURSE files RELATIVE ${ROOT}
     ${ROOT}/README.md ${ROOT}/CMakeLists.txt ${ROOT}/docs/*.md ${ROOT}/include/*.hpp ${ROOT}/lib/*.cpp
     ${ROOT}/lib/*.hpp ${ROOT}/tests/*.cpp ${ROOT}/tests/*.hpp ${ROOT}/tests/*.cmake ${ROOT}/tests/*.txt
     ${ROOT}/tools/*.py ${ROOT}/tools/*.sh ${ROOT}/bench/*.cpp ${ROOT}/bench/*.hpp ${ROOT}/bench/*.txt
     ${ROOT}/examples/*.cpp ${ROOT}/examples/*.hpp ${ROOT}/examples/*.md ${ROOT}/examples/*.txt ${ROOT}/cmake/*
    ${ROOT}/examples/*.cmake ${ROOT}/lib/*.cu ${ROOT}/lib/*.cuh ${ROOT}/.ci/*)
set(up "..")
set(shared "shared")
set(stack "stack")
set(work "work")
set(section "§")
set(patterns "/${work}/" "${up}/${shared}" "${shared}/spec" "spec ${section}" "${stack} notes" "${stack}-notes")
set(found "")
foreach(f IN LISTS files)
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
