# core/stb_patch.cmake — the stb_image that core/stbi.c compiles: Debian's
# header (2.27) with the JPEG bit reader's bounds checks of stb 2.28
# applied. On a corrupt JPEG, 2.27 lets the reader's bit count go below zero
# and then indexes a Huffman table with a symbol out of its bounds (a heap
# read past the decoder's tables, found by the fuzz_image target). Each
# replacement must apply exactly: another stb version stops the build here
# rather than compile unpatched.
set(STB_SOURCE /usr/include/stb/stb_image.h)
set(STB_PATCHED ${CMAKE_BINARY_DIR}/generated/stb/stb_image.h)
file(READ ${STB_SOURCE} stb)

macro(stb_replace what old new)
  string(FIND "${stb}" "${old}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${STB_SOURCE}: cannot apply the stb 2.28 fix '${what}'; "
                        "this stb_image is not the 2.27 it was written for")
  endif()
  string(REPLACE "${old}" "${new}" stb "${stb}")
endmacro()

stb_replace("symbol id within the table"
  "c = ((j->code_buffer >> (32 - k)) & stbi__bmask[k]) + h->delta[k];\n"
  "c = ((j->code_buffer >> (32 - k)) & stbi__bmask[k]) + h->delta[k];\n   if (c < 0 || c >= 256) return -1; /* 2.28: symbol id out of bounds */\n")
stb_replace("receive and get_bits stop when out of bits"
  "   if (j->code_bits < n) stbi__grow_buffer_unsafe(j);\n"
  "   if (j->code_bits < n) stbi__grow_buffer_unsafe(j);\n   if (j->code_bits < n) return 0; /* 2.28: ran out of bits */\n")
stb_replace("get_bit stops when out of bits"
  "   if (j->code_bits < 1) stbi__grow_buffer_unsafe(j);\n"
  "   if (j->code_bits < 1) stbi__grow_buffer_unsafe(j);\n   if (j->code_bits < 1) return 0; /* 2.28: ran out of bits */\n")

file(WRITE ${STB_PATCHED}.tmp "${stb}")
file(COPY_FILE ${STB_PATCHED}.tmp ${STB_PATCHED} ONLY_IF_DIFFERENT)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${STB_SOURCE} ${CMAKE_CURRENT_LIST_FILE})
