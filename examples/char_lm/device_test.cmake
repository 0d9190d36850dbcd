# --device trains where it is told, with the CPU's arithmetic: a run on testdev:0 (a plugin device that runs
# the CPU kernels on memory of its own, through the real loader) must log the CPU run's losses and end with
# a byte-identical checkpoint, dropout included. A device name that parses to nothing is a command-line
# error that lists the accepted forms.
# Run with cmake -P -DCHAR_LM=<binary> -DWORK_DIR=<scratch dir>.
set(args --steps 6 --checkpoint-every 3 --eval-every 3 --threads 1 --batch 4 --context 16
         --d-model 32 --heads 2 --layers 1 --warmup 2 --dropout 0.1 --no-progress)
include(${CMAKE_CURRENT_LIST_DIR}/metrics_losses.cmake)
file(REMOVE_RECURSE ${WORK_DIR})
foreach(device cpu testdev:0)
  string(REPLACE ":" "_" name ${device})
  execute_process(COMMAND ${CHAR_LM} ${args} --device ${device} --checkpoint-dir ${WORK_DIR}/${name}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "char_lm --device ${device} failed (${rc}):\n${out}")
  endif()
  if(NOT out MATCHES "parameters \\([^)]*\\) on ${device}")
    message(FATAL_ERROR "char_lm --device ${device} does not say where it trains:\n${out}")
  endif()
  read_losses(${WORK_DIR}/${name}/metrics.csv ${name}_losses)
  file(SHA256 ${WORK_DIR}/${name}/checkpoint.safetensors ${name}_checkpoint)
endforeach()
if(NOT cpu_losses STREQUAL testdev_0_losses)
  message(FATAL_ERROR "losses differ:\ncpu:       ${cpu_losses}\ntestdev:0: ${testdev_0_losses}")
endif()
list(LENGTH cpu_losses rows)
if(rows LESS 7)
  message(FATAL_ERROR "expected a header and 6 rows in metrics.csv, got ${rows} lines")
endif()
if(NOT cpu_checkpoint STREQUAL testdev_0_checkpoint)
  message(FATAL_ERROR "the testdev:0 run's checkpoint differs from the CPU run's")
endif()
execute_process(COMMAND ${CHAR_LM} ${args} --device gpu0 --checkpoint-dir ${WORK_DIR}/bad
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0 OR NOT out MATCHES "--device: parse_device: 'gpu0' is not a device; expected cpu, cuda")
  message(FATAL_ERROR "--device gpu0 should fail naming the accepted devices (${rc}):\n${out}")
endif()
