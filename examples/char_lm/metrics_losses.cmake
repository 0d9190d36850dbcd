# read_losses(<metrics.csv> <out_var>): the step, train-loss and validation-loss columns (those before lr)
# of every line of a char_lm metrics.csv, header included, as a list; the example tests compare two runs
# by it.
function(read_losses csv out_var)
  file(STRINGS ${csv} lines)
  set(losses_of_rows "")
  foreach(line IN LISTS lines)
    string(REGEX MATCH "^[^,]*,[^,]*,[^,]*" losses "${line}")
    list(APPEND losses_of_rows "${losses}")
  endforeach()
  set(${out_var} "${losses_of_rows}" PARENT_SCOPE)
endfunction()
