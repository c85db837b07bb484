# `make package` (cpack -G DEB in the build tree): ringcast_<version>_amd64.deb, made of what
# deploy/install.cmake installs under /usr, plus the maintainer scripts in deploy/debian/:
#
#   /usr/bin/ringcast, ringcastctl, the man page, the unit in /usr/lib/systemd/system,
#   /usr/share/ringcast (example configs, setup-host.sh, Grafana dashboard, Prometheus rules),
#   /usr/share/doc/ringcast (deploy notes, client examples)
#   /etc/ringcast/ringcast.json      a conffile: an operator's edits survive upgrades
#   postinst                         creates the ringcast system user, runs `ringcast doctor`
#                                    as a hint; starts nothing
#   prerm / postrm                   stop and disable the service; purge removes the config
#                                    and the user this package created
#
# Included by the top-level CMakeLists.txt after deploy/install.cmake.

set(CPACK_GENERATOR "DEB")
set(CPACK_PACKAGE_NAME "ringcast")
set(CPACK_PACKAGE_VERSION "${PROJECT_VERSION}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "broadcast WebSocket server over io_uring and shared-memory rings")
# dpkg's long description (the summary above is its first line).
set(CPACK_PACKAGE_DESCRIPTION "Every message a client sends is delivered to every other connected client, in
order. A supervisor forks one io_uring worker process per NUMA node; workers
exchange messages through lock-free rings in shared memory, any worker can be
hot-restarted without a client noticing, and several nodes can be joined through
a Redis stream. Comes with ringcastctl, a systemd unit, a Prometheus endpoint with
a live status page, a Grafana dashboard and alerting rules.")
set(CPACK_PACKAGE_CONTACT "ringcast maintainers <maintainers@ringcast.invalid>")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)  # ringcast_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_SECTION "net")
set(CPACK_DEBIAN_PACKAGE_PRIORITY "optional")
# The library dependencies are read off the binaries; useradd and groupadd come from passwd.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd")
set(CPACK_STRIP_FILES ON)
# Install into a staging DESTDIR with the real prefix, so that the unit's ExecStart= and the
# /etc path written by install(CODE) come out as they will be on the target.
set(CPACK_SET_DESTDIR ON)
set(CPACK_PACKAGING_INSTALL_PREFIX "/usr")
set(CPACK_INSTALL_PREFIX "/usr")

configure_file(${CMAKE_SOURCE_DIR}/deploy/debian/conffiles.in ${CMAKE_BINARY_DIR}/debian/conffiles @ONLY)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${CMAKE_BINARY_DIR}/debian/conffiles
    ${CMAKE_SOURCE_DIR}/deploy/debian/postinst
    ${CMAKE_SOURCE_DIR}/deploy/debian/prerm
    ${CMAKE_SOURCE_DIR}/deploy/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)

include(CPack)
