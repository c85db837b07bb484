# `cmake --install <build> [--prefix /usr/local]`: what an installed ringcast consists of.
# Included by the top-level CMakeLists.txt after the ringcast and ringcastctl targets exist.
#
#   <prefix>/bin/ringcast, ringcastctl
#   <prefix>/lib/systemd/system/ringcast.service   (ExecStart= rewritten to <prefix>/bin)
#   <prefix>/share/man/man8/ringcast.8
#   <prefix>/share/ringcast/examples/*.json         (every shipped config, the default included)
#   <prefix>/share/ringcast/setup-host.sh
#   <prefix>/share/ringcast/grafana/ringcast.json, prometheus/ringcast-rules.yml
#   <prefix>/share/doc/ringcast/README.md, examples/ (chat.html, client.py, client.js)
#   /etc/ringcast/ringcast.json                     (only when absent: an edited config survives)
#
# DESTDIR is honoured everywhere (packaging, the Dockerfile's staged install).

set(RINGCAST_CONFIG_DIR "/etc/ringcast" CACHE PATH
    "Where the installed unit looks for ringcast.json (absolute; not under the prefix)")

install(TARGETS ringcast ringcastctl RUNTIME DESTINATION bin)

install(FILES ${CMAKE_SOURCE_DIR}/deploy/ringcast.8 DESTINATION share/man/man8)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/ringcast.json DESTINATION share/ringcast/examples)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/deploy/examples/ DESTINATION share/ringcast/examples
        FILES_MATCHING PATTERN "*.json")
install(PROGRAMS ${CMAKE_SOURCE_DIR}/deploy/setup-host.sh DESTINATION share/ringcast)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/README.md DESTINATION share/doc/ringcast)
install(FILES ${CMAKE_SOURCE_DIR}/examples/chat.html ${CMAKE_SOURCE_DIR}/examples/client.py
              ${CMAKE_SOURCE_DIR}/examples/client.js DESTINATION share/doc/ringcast/examples)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/grafana/ringcast.json DESTINATION share/ringcast/grafana)
install(FILES ${CMAKE_SOURCE_DIR}/deploy/prometheus/ringcast-rules.yml DESTINATION share/ringcast/prometheus)

# The unit names /usr/local/bin and /etc/ringcast; the prefix is only known at install time
# (cmake --install --prefix), so the paths are rewritten then.
install(CODE "
  set(unit_src \"${CMAKE_SOURCE_DIR}/deploy/ringcast.service\")
  set(unit_dir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
  file(READ \"\${unit_src}\" unit)
  string(REPLACE \"/usr/local/bin/ringcast\" \"\${CMAKE_INSTALL_PREFIX}/bin/ringcast\" unit \"\${unit}\")
  string(REPLACE \"/etc/ringcast/\" \"${RINGCAST_CONFIG_DIR}/\" unit \"\${unit}\")
  message(STATUS \"Installing: \${unit_dir}/ringcast.service\")
  file(MAKE_DIRECTORY \"\${unit_dir}\")
  file(WRITE \"\${unit_dir}/ringcast.service\" \"\${unit}\")
")

# The default config goes to /etc once; an operator's edits are never overwritten.
install(CODE "
  set(conf \"\$ENV{DESTDIR}${RINGCAST_CONFIG_DIR}/ringcast.json\")
  if(EXISTS \"\${conf}\")
    message(STATUS \"Keeping: \${conf} (already there)\")
  else()
    # file(INSTALL) puts DESTDIR in front of an absolute DESTINATION itself.
    file(INSTALL \"${CMAKE_SOURCE_DIR}/deploy/ringcast.json\"
         DESTINATION \"${RINGCAST_CONFIG_DIR}\"
         FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
  endif()
")
