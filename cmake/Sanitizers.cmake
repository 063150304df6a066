# MAILTOKEN_SANITIZE builds everything with ASan and UBSan. UBSan findings
# abort, so that ctest counts them as failures.
if(MAILTOKEN_SANITIZE)
  set(MAILTOKEN_SANITIZER_FLAGS
    -fsanitize=address,undefined -fno-sanitize-recover=all
    -fno-omit-frame-pointer)
  add_compile_options(${MAILTOKEN_SANITIZER_FLAGS})
  add_link_options(${MAILTOKEN_SANITIZER_FLAGS})
else()
  # _FORTIFY_SOURCE needs optimisation, and ASan replaces its checks.
  add_compile_options($<$<NOT:$<CONFIG:Debug>>:-D_FORTIFY_SOURCE=2>)
endif()

# MAILTOKEN_FUZZ adds libFuzzer's coverage instrumentation to everything;
# the fuzz targets themselves link libFuzzer (tests/fuzz).
if(MAILTOKEN_FUZZ)
  if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "MAILTOKEN_FUZZ needs clang: configure with CC=clang")
  endif()
  if(NOT MAILTOKEN_SANITIZE)
    message(FATAL_ERROR "MAILTOKEN_FUZZ needs MAILTOKEN_SANITIZE=ON")
  endif()
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()
