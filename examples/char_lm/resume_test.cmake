# --resume continues exactly (dropout included): a run interrupted after step 10 (last checkpoint at step 8) and resumed
# must end with a checkpoint (model, optimizer, schedule) byte-identical to an uninterrupted run's, and log the same
# losses.
# Run with cmake -P -DCHAR_LM=<binary> -DWORK_DIR=<scratch dir>.
set(args --steps 12 --checkpoint-every 4 --eval-every 4 --threads 1 --batch 4 --context 16
         --d-model 32 --heads 2 --layers 1 --warmup 3 --dropout 0.1 --no-progress)
file(REMOVE_RECURSE ${WORK_DIR})
function(run)
  execute_process(COMMAND ${CHAR_LM} ${args} ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "char_lm ${ARGN} failed (${rc}):\n${out}")
  endif()
endfunction()
run(--checkpoint-dir ${WORK_DIR}/straight)
run(--checkpoint-dir ${WORK_DIR}/resumed --stop-after 10)
run(--checkpoint-dir ${WORK_DIR}/resumed --resume)

# The checkpoint holds model, optimizer state, schedule step and metadata: all must match to the byte.
file(SHA256 ${WORK_DIR}/straight/checkpoint.safetensors straight_checkpoint)
file(SHA256 ${WORK_DIR}/resumed/checkpoint.safetensors resumed_checkpoint)
if(NOT straight_checkpoint STREQUAL resumed_checkpoint)
  message(FATAL_ERROR "the resumed run's final checkpoint differs from the uninterrupted run's")
endif()
# Losses: every row's step, train loss and validation loss (the columns before lr) must agree.
include(${CMAKE_CURRENT_LIST_DIR}/metrics_losses.cmake)
read_losses(${WORK_DIR}/straight/metrics.csv straight_losses)
read_losses(${WORK_DIR}/resumed/metrics.csv resumed_losses)
if(NOT straight_losses STREQUAL resumed_losses)
  message(FATAL_ERROR "logged losses differ:\n${straight_losses}\nvs\n${resumed_losses}")
endif()
list(LENGTH straight_losses rows)
if(NOT rows EQUAL 13)
  message(FATAL_ERROR "expected a header and 12 rows in metrics.csv, got ${rows} lines")
endif()
