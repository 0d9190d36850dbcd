# char_lm under MPI: 2 ranks train on the same global batches as one process (same losses to float32
# rounding), the log names the ranks, rank 0 alone writes files, and --resume under MPI continues exactly.
# cmake -DCHAR_LM=<binary> -DCOMPARE=<compare_losses> -DMPIEXEC=<mpiexec> -DWORK_DIR=<scratch> -P char_lm_mpi.cmake
set(args --steps 8 --checkpoint-every 4 --eval-every 4 --threads 1 --batch 8 --context 16 --d-model 32 --heads 2
         --layers 1 --warmup 3 --no-progress)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR}/rank0 ${WORK_DIR}/rank1)
# run(<output variable> <command...>): runs the command in WORK_DIR, fails the test unless it exits 0.
function(run out)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc OUTPUT_VARIABLE text
                  ERROR_VARIABLE text TIMEOUT 240)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${ARGN}\nfailed (${rc}):\n${text}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# 1. The same global batches: one process against 2 ranks, dropout 0.
run(single_log ${CHAR_LM} ${args} --dropout 0 --checkpoint-dir single)
run(two_log ${MPIEXEC} -n 2 ${CHAR_LM} ${args} --dropout 0 --checkpoint-dir two)
if(NOT two_log MATCHES "data parallel: 2 MPI ranks, global batch 8 = 4 rows per rank")
  message(FATAL_ERROR "the 2-rank log does not name its ranks:\n${two_log}")
endif()
if(single_log MATCHES "data parallel")
  message(FATAL_ERROR "a single process claims to be data parallel:\n${single_log}")
endif()
run(compared ${COMPARE} ${WORK_DIR}/single/metrics.csv ${WORK_DIR}/two/metrics.csv 1e-4)
message(STATUS "1 process vs 2 ranks: ${compared}")

# 2. Only rank 0 prints and writes: each rank runs in its own directory, with a relative checkpoint dir.
run(split_log ${MPIEXEC} -n 1 -wdir ${WORK_DIR}/rank0 ${CHAR_LM} ${args} --checkpoint-dir run
              : -n 1 -wdir ${WORK_DIR}/rank1 ${CHAR_LM} ${args} --checkpoint-dir run)
foreach(f checkpoint.safetensors metrics.csv loss.svg)
  if(NOT EXISTS ${WORK_DIR}/rank0/run/${f})
    message(FATAL_ERROR "rank 0 did not write run/${f}")
  endif()
endforeach()
file(GLOB_RECURSE rank1_files LIST_DIRECTORIES true ${WORK_DIR}/rank1/*)
if(rank1_files)
  message(FATAL_ERROR "rank 1 wrote files: ${rank1_files}")
endif()
string(REGEX MATCHALL "model: [0-9]+ parameters" model_lines "${split_log}")
list(LENGTH model_lines printed)
if(NOT printed EQUAL 1)
  message(FATAL_ERROR "expected the model line once (rank 0 only), got it ${printed} times:\n${split_log}")
endif()

# 3. --resume under MPI, dropout on (every rank its own masks): interrupted after step 6 (last checkpoint at
#    step 4) and resumed, the run ends with the uninterrupted run's model, byte for byte, and its losses.
run(straight_log ${MPIEXEC} -n 2 ${CHAR_LM} ${args} --dropout 0.1 --checkpoint-dir straight)
run(stopped_log ${MPIEXEC} -n 2 ${CHAR_LM} ${args} --dropout 0.1 --checkpoint-dir resumed --stop-after 6)
run(resumed_log ${MPIEXEC} -n 2 ${CHAR_LM} ${args} --dropout 0.1 --checkpoint-dir resumed --resume)
if(NOT resumed_log MATCHES "resumed from step 4")
  message(FATAL_ERROR "the resumed run did not start from step 4:\n${resumed_log}")
endif()
file(SHA256 ${WORK_DIR}/straight/checkpoint.safetensors straight_model)
file(SHA256 ${WORK_DIR}/resumed/checkpoint.safetensors resumed_model)
if(NOT straight_model STREQUAL resumed_model)
  message(FATAL_ERROR "the resumed 2-rank run's final checkpoint differs from the uninterrupted one's")
endif()
run(compared ${COMPARE} ${WORK_DIR}/straight/metrics.csv ${WORK_DIR}/resumed/metrics.csv 0)
