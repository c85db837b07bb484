# Turns a text file into a C++ header holding it as one std::string_view, at build time
# (cmake -P), so a page edited in its own file still ships inside the binary:
#   cmake -DINPUT=page.html -DOUTPUT=page.hpp -DNAME=kPage -P embed_text.cmake
file(READ "${INPUT}" text)
set(delim "ringcast_embed")
string(FIND "${text}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string's end marker )${delim}\"")
endif()
get_filename_component(input_name "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp"
  "// Generated from ${input_name} by supervisor/embed_text.cmake at build time; do not edit.\n"
  "#pragma once\n#include <string_view>\n\nnamespace ringcast::generated {\n"
  "inline constexpr std::string_view ${NAME} = R\"${delim}(${text})${delim}\";\n}\n")
# Only a changed page touches the header, so an unchanged one recompiles nothing.
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")
