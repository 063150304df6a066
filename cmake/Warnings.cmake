# Compiler warnings for every target of the project.
set(MAILTOKEN_WARNINGS
  -Wall -Wextra -Wformat=2 -Wformat-security -Wshadow -Wstrict-prototypes
  -Wmissing-prototypes -Wold-style-definition -Wpointer-arith -Wcast-qual
  -Wwrite-strings -Wundef -Wvla -Wimplicit-fallthrough -Wnull-dereference
  -Wconversion -Wno-sign-conversion
  # Messages are cut to their buffers on purpose.
  -Wno-format-truncation)
if(MAILTOKEN_WERROR)
  list(APPEND MAILTOKEN_WARNINGS -Werror)
endif()
add_compile_options(${MAILTOKEN_WARNINGS})
add_compile_definitions(_GNU_SOURCE)
add_compile_options(-fstack-protector-strong -fno-common)
add_link_options(-Wl,-z,relro -Wl,-z,now -Wl,--as-needed)
