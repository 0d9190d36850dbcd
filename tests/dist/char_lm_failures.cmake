# Failures of a 2-rank char_lm job end the whole job with a non-zero exit code, never a hang:
#  1. rank 1 is killed (SIGKILL) right after the first checkpoint; the last checkpoint stays intact (the same
#     bytes as a run that stopped cleanly at that step);
#  2. rank 1 alone fails (its --data is too short to train on) while rank 0 goes on;
#  3. the ranks build different models (--d-model differs): every rank reports which parameter differs;
#  4. rank 1 alone diverges (--lr 1e30): the NaN in the allreduced loss stops both ranks at the same step.
# cmake -DCHAR_LM=<binary> -DMPIEXEC=<mpiexec> -DWORK_DIR=<scratch> -P char_lm_failures.cmake
# Steps of some tens of milliseconds: rank 1 is killed long before rank 0 could write the next checkpoint.
set(args --steps 100000 --checkpoint-every 20 --eval-every 100000 --threads 1 --batch 16 --context 32 --d-model 64
         --heads 2 --layers 2 --warmup 3 --dropout 0 --no-progress)
file(REMOVE_RECURSE ${WORK_DIR})
file(MAKE_DIRECTORY ${WORK_DIR})
set(dir ${WORK_DIR}/killed)
string(REPLACE ";" " " args_text "${args}")
# Rank 1 runs char_lm under a shell that kills it (SIGKILL, no chance to clean up) once rank 0 has written
# its first checkpoint; the shell then exits as the killed process would.
set(rank1_script "${CHAR_LM} ${args_text} --checkpoint-dir ${dir} & pid=$!; \
while [ ! -f ${dir}/checkpoint.safetensors ]; do sleep 0.01; done; kill -9 $pid; wait $pid; exit 137")

string(TIMESTAMP start "%s")
execute_process(COMMAND ${MPIEXEC} -n 1 ${CHAR_LM} ${args} --checkpoint-dir ${dir} : -n 1 sh -c "${rank1_script}"
                RESULT_VARIABLE rc OUTPUT_VARIABLE log ERROR_VARIABLE log TIMEOUT 120)
string(TIMESTAMP end "%s")
math(EXPR seconds "${end} - ${start}")
if(rc MATCHES "timeout")
  message(FATAL_ERROR "the job hung after rank 1 died (killed after 120 s):\n${log}")
endif()
if(rc EQUAL 0)
  message(FATAL_ERROR "the job exited 0 although rank 1 was killed:\n${log}")
endif()
message(STATUS "the job ended with exit code ${rc} ${seconds} s after it started")

# The last checkpoint that rank 0 reported complete, and that it is the one on disk.
string(REGEX MATCHALL "checkpoint: step [0-9]+" saved "${log}")
if(NOT saved)
  message(FATAL_ERROR "rank 0 reported no checkpoint before the job ended:\n${log}")
endif()
list(GET saved -1 last)
string(REGEX REPLACE "checkpoint: step " "" step "${last}")
execute_process(COMMAND ${MPIEXEC} -n 2 ${CHAR_LM} ${args} --checkpoint-dir ${WORK_DIR}/reference --stop-after ${step}
                RESULT_VARIABLE rc OUTPUT_VARIABLE ref_log ERROR_VARIABLE ref_log TIMEOUT 240)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the reference run failed (${rc}):\n${ref_log}")
endif()
foreach(f checkpoint.safetensors)
  file(SHA256 ${dir}/${f} killed_hash)
  file(SHA256 ${WORK_DIR}/reference/${f} reference_hash)
  if(NOT killed_hash STREQUAL reference_hash)
    message(FATAL_ERROR "${f} left by the killed job differs from a clean run's at step ${step}")
  endif()
endforeach()
message(STATUS "the checkpoint of step ${step} is intact")

# expect_failure(<log variable> <what> <command...>): the job must exit non-zero within 120 s.
function(expect_failure out what)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc OUTPUT_VARIABLE text
                  ERROR_VARIABLE text TIMEOUT 120)
  if(rc MATCHES "timeout")
    message(FATAL_ERROR "${what}: the job hung (killed after 120 s):\n${text}")
  elseif(rc EQUAL 0)
    message(FATAL_ERROR "${what}: the job exited 0:\n${text}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

set(short_args --steps 8 --threads 1 --batch 8 --context 16 --heads 2 --layers 1 --no-progress)
file(WRITE ${WORK_DIR}/tiny.txt "too short")
expect_failure(alone_log "rank 1 fails alone" ${MPIEXEC} -n 1 ${CHAR_LM} ${short_args} --checkpoint-dir alone
               : -n 1 ${CHAR_LM} ${short_args} --checkpoint-dir alone --data ${WORK_DIR}/tiny.txt)
if(NOT alone_log MATCHES "char_lm: split_tokens")
  message(FATAL_ERROR "rank 1's error is missing from the log:\n${alone_log}")
endif()

expect_failure(mismatch_log "different models" ${MPIEXEC} -n 1 ${CHAR_LM} ${short_args} --checkpoint-dir mismatch
               --d-model 32 : -n 1 ${CHAR_LM} ${short_args} --checkpoint-dir mismatch --d-model 48)
if(NOT mismatch_log MATCHES "char_lm: DistributedDataParallel: the model differs between ranks: 'token_embedding[.]embeddings' is parameter float32 [(]155, 48[)] on rank 1 but parameter float32 [(]155, 32[)] on rank 0")
  message(FATAL_ERROR "the mismatch is not named:\n${mismatch_log}")
endif()
message(STATUS "a rank failing alone and mismatched models end the job with clear errors")

# Only rank 1's weights blow up, so only its own loss turns NaN; the stop is taken on the global loss, so rank 0
# (a sane --lr) stops at the same step instead of waiting in the next allreduce for a rank that left.
expect_failure(diverge_log "rank 1 diverges alone" ${MPIEXEC} -n 1 ${CHAR_LM} ${short_args} --warmup 0 --lr 1e-3
               --checkpoint-dir diverge : -n 1 ${CHAR_LM} ${short_args} --warmup 0 --lr 1e30 --checkpoint-dir diverge)
string(REGEX MATCHALL "char_lm: step [0-9]+: finite_loss: the loss is -?(nan|inf)" stops "${diverge_log}")
list(LENGTH stops ranks_stopped)
list(REMOVE_DUPLICATES stops)
list(LENGTH stops distinct)
if(NOT ranks_stopped EQUAL 2 OR NOT distinct EQUAL 1)
  message(FATAL_ERROR "both ranks must stop at the same step on the non-finite global loss:\n${diverge_log}")
endif()
message(STATUS "a rank diverging alone stops every rank at the same step: ${stops}")
