# The live status page (GET / of the metrics endpoint): supervisor/status_page.html becomes
# ringcast/status_page_html.hpp in the build tree, compiled into ringcast_supervisor.
# Included by the top-level CMakeLists.txt once the ringcast_supervisor target exists.
set(status_page_src ${CMAKE_SOURCE_DIR}/supervisor/status_page.html)
set(status_page_hpp ${CMAKE_BINARY_DIR}/generated/ringcast/status_page_html.hpp)
add_custom_command(
  OUTPUT ${status_page_hpp}
  COMMAND ${CMAKE_COMMAND} -DINPUT=${status_page_src} -DOUTPUT=${status_page_hpp}
          -DNAME=kStatusPageHtml -P ${CMAKE_SOURCE_DIR}/supervisor/embed_text.cmake
  DEPENDS ${status_page_src} ${CMAKE_SOURCE_DIR}/supervisor/embed_text.cmake
  COMMENT "Embedding supervisor/status_page.html"
  VERBATIM)
target_sources(ringcast_supervisor PRIVATE ${status_page_hpp})
