# A short char_lm run (3 steps, a one-layer model, 2 threads, a checkpoint and a sample) under Valgrind's
# memcheck: any invalid read or write, use of an uninitialised value or invalid free fails the test.
# Run with cmake -P -DCHAR_LM=<binary> -DVALGRIND=<valgrind or empty> -DWORK_DIR=<scratch dir> -DSKIP=<reason or empty>.
# Prints "skipped: <why>" (CTest reports the test as skipped) when Valgrind is missing or the build cannot run
# under it.
if(NOT SKIP AND NOT VALGRIND)
  set(SKIP "valgrind was not found when xgrad was configured")
endif()
if(SKIP)
  message("skipped: ${SKIP}")
  return()
endif()
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${VALGRIND} --error-exitcode=1 --quiet ${CHAR_LM} --steps 3 --threads 2 --batch 2
                        --context 16 --d-model 32 --heads 2 --layers 1 --eval-every 3 --checkpoint-dir ${WORK_DIR}
                        --no-progress
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "char_lm under valgrind exited ${rc}:\n${out}")
endif()
