# Compiler warnings for every target of the project. Flags the compiler
# does not know are left out, so that gcc and clang builds both work with
# warnings as errors.
include(CheckCCompilerFlag)

set(MAILTOKEN_WANTED_WARNINGS
  -Wall -Wextra -Wformat=2 -Wformat-security -Wshadow -Wstrict-prototypes
  -Wmissing-prototypes -Wold-style-definition -Wpointer-arith -Wcast-qual
  -Wwrite-strings -Wundef -Wvla -Wimplicit-fallthrough -Wnull-dereference
  -Wconversion -Wno-sign-conversion
  # Messages are cut to their buffers on purpose.
  -Wno-format-truncation)

set(MAILTOKEN_WARNINGS)
foreach(flag ${MAILTOKEN_WANTED_WARNINGS})
  # -Wno-X is accepted silently even when X is unknown, so test the -WX form.
  string(REGEX REPLACE "^-Wno-" "-W" probe "${flag}")
  string(MAKE_C_IDENTIFIER "HAVE${probe}" var)
  check_c_compiler_flag("${probe}" ${var})
  if(${var})
    list(APPEND MAILTOKEN_WARNINGS ${flag})
  endif()
endforeach()
if(MAILTOKEN_WERROR)
  list(APPEND MAILTOKEN_WARNINGS -Werror)
endif()
add_compile_options(${MAILTOKEN_WARNINGS})
add_compile_definitions(_GNU_SOURCE)
add_compile_options(-fstack-protector-strong -fno-common)
add_link_options(-Wl,-z,relro -Wl,-z,now -Wl,--as-needed)

# valgrind 3.19 cannot read the DWARF 5 that clang 14 writes by default.
if(CMAKE_C_COMPILER_ID MATCHES "Clang")
  add_compile_options(-gdwarf-4)
endif()
