# Fails unless DOC (a Markdown file) shows SOURCE verbatim in the code block that follows the
# marker comment `<!-- SOURCE_NAME -->`, so documented programs cannot drift from the compiled ones.
# Run with cmake -P -DDOC=... -DSOURCE=... -DSOURCE_NAME=...
file(READ ${DOC} doc)
file(READ ${SOURCE} source)
string(FIND "${doc}" "<!-- ${SOURCE_NAME} -->\n```cpp\n" start)
if(start EQUAL -1)
  message(FATAL_ERROR "${DOC} lacks the code block marked <!-- ${SOURCE_NAME} -->")
endif()
string(SUBSTRING "${doc}" ${start} -1 block)
string(FIND "${block}" "```cpp\n" open)
math(EXPR open "${open} + 7")
string(SUBSTRING "${block}" ${open} -1 block)
string(FIND "${block}" "```\n" close)
string(SUBSTRING "${block}" 0 ${close} block)
if(NOT block STREQUAL source)
  message(FATAL_ERROR "the code block in ${DOC} differs from ${SOURCE_NAME}; keep them identical")
endif()
