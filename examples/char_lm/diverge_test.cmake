# A diverging run (--lr 1e30), resumed from a good checkpoint, stops at the first NaN or infinite loss with a
# non-zero exit and a message naming the value, before that step's update and checkpoint.
# Run with cmake -P -DCHAR_LM=<binary> -DWORK_DIR=<scratch dir>.
set(args --threads 1 --batch 4 --context 16 --d-model 32 --heads 2 --layers 1 --warmup 0 --no-progress
         --checkpoint-dir ${WORK_DIR} --eval-every 1000)
file(REMOVE_RECURSE ${WORK_DIR})
execute_process(COMMAND ${CHAR_LM} ${args} --steps 2 --lr 1e-3 RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the good run failed (${rc}):\n${out}")
endif()
# A checkpoint every step: the step whose loss is not finite must stop before it saves.
execute_process(COMMAND ${CHAR_LM} ${args} --steps 60 --lr 1e30 --checkpoint-every 1 --resume
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "char_lm --lr 1e30 finished without noticing the divergence:\n${out}")
endif()
if(NOT out MATCHES "the loss is -?(nan|inf)|holds a -?(nan|inf)|norm of order 2 of the gradients is")
  message(FATAL_ERROR "char_lm --lr 1e30 failed (${rc}) without naming the non-finite value:\n${out}")
endif()
if(NOT out MATCHES "was not overwritten")
  message(FATAL_ERROR "char_lm --lr 1e30 did not say that the checkpoint was kept:\n${out}")
endif()
