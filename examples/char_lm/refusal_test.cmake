# char_lm must refuse a bad input with a short message and a non-zero exit, never crash or train on garbage.
# Run with cmake -P -DCHAR_LM=<binary> -DWORK_DIR=<scratch dir> -DEXPECT=<regex> -DARGS=<|-separated flags>.
string(REPLACE "|" ";" ARGS "${ARGS}")
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CHAR_LM} ${ARGS} --checkpoint-dir ${WORK_DIR} --no-progress
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "char_lm ${ARGS} succeeded; expected a refusal matching '${EXPECT}':\n${out}")
endif()
if(NOT out MATCHES "${EXPECT}")
  message(FATAL_ERROR "char_lm ${ARGS} failed (${rc}) without saying '${EXPECT}':\n${out}")
endif()
string(LENGTH "${out}" length)
if(length GREATER 600)
  message(FATAL_ERROR "char_lm ${ARGS}: a refusal should be short, got ${length} characters:\n${out}")
endif()
