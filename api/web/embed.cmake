# embed.cmake — write a C source holding one file's bytes, so that the web
# page (api/web/index.html) is compiled into nstd and served without reading
# the file system. Run by the build (CMakeLists.txt) as
#   cmake -DINPUT=api/web/index.html -DOUTPUT=<build>/generated/web_page.c -DNAME=api_web_page -P embed.cmake
# and defines  const unsigned char NAME[];  const size_t NAME_len;
# (declared in api/internal.h), with a NUL after the last byte that NAME_len
# does not count. The bytes are copied as they are: no escaping to get
# wrong, any content works.
foreach(var INPUT OUTPUT NAME)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "embed.cmake: -D${var}=… is required")
  endif()
endforeach()

file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" digits)
math(EXPR len "${digits} / 2")
# a line break after every 16 bytes (32 hex digits), then each byte as 0xNN
string(REPEAT "[0-9a-f]" 32 line)
string(REGEX REPLACE "(${line})" "\\1\n" hex "${hex}")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")

get_filename_component(src "${INPUT}" NAME)
file(WRITE "${OUTPUT}"
"/* Generated at build time from ${src} by api/web/embed.cmake; do not edit. */
#include <stddef.h>

const unsigned char ${NAME}[] = {
${bytes}0x00};
const size_t ${NAME}_len = ${len};
")
