# Runs one benchmark binary in smoke mode (MOEPROF_BENCH_SMOKE=1, set by ctest) and fails when it
# exits non-zero, reports no benchmark, or reports one whose run ended in an error.
# cmake -DBENCHMARK=binary -DOUT=result.json -P smoke.cmake
get_filename_component(out_dir ${OUT} DIRECTORY)
file(MAKE_DIRECTORY ${out_dir})
execute_process(
  COMMAND ${BENCHMARK} --benchmark_min_time=0.01 --benchmark_out=${OUT}
          --benchmark_out_format=json
  RESULT_VARIABLE status)
if(NOT status EQUAL 0)
  message(FATAL_ERROR "${BENCHMARK} exited with ${status}")
endif()
file(READ ${OUT} report)
string(JSON count ERROR_VARIABLE error LENGTH "${report}" benchmarks)
if(error OR count EQUAL 0)
  message(FATAL_ERROR "${OUT}: no benchmarks reported ${error}")
endif()
math(EXPR last "${count} - 1")
foreach(i RANGE ${last})
  string(JSON name GET "${report}" benchmarks ${i} name)
  string(JSON failed ERROR_VARIABLE missing GET "${report}" benchmarks ${i} error_occurred)
  if(NOT missing AND failed)
    string(JSON why GET "${report}" benchmarks ${i} error_message)
    message(FATAL_ERROR "benchmark ${name} failed: ${why}")
  endif()
endforeach()
message(STATUS "${count} benchmarks ran once each")
