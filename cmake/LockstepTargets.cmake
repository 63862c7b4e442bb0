# Compile settings for lockstep's own targets (never applied to generated or third-party code).
#
# lockstep_target(<target>) adds the warning set (errors unless configured with
# --compile-no-warning-as-error), the repository root as include directory, and forces <utility>
# ahead of Boost 1.74's Asio, whose awaitable.hpp misses it under GCC 12 in C++20 mode.
get_filename_component(LOCKSTEP_ROOT ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)

function(lockstep_target target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wnon-virtual-dtor -Woverloaded-virtual -Wvla
    $<$<COMPILE_LANGUAGE:CXX>:-include utility>)
  set_target_properties(${target} PROPERTIES COMPILE_WARNING_AS_ERROR ON)
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "INTERFACE_LIBRARY")
    target_include_directories(${target} INTERFACE ${LOCKSTEP_ROOT})
  else()
    target_include_directories(${target} PUBLIC ${LOCKSTEP_ROOT})
  endif()
endfunction()
