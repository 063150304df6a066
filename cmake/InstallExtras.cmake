# Installs what is not a build target (the example configuration, the
# bash completion and the systemd units) and adds the uninstall target. The command, the
# network module and the plugin are installed by helper/ and plugin/, the
# manual pages by man/.
#
# Folders outside CMAKE_INSTALL_PREFIX are absolute cache variables, so
# that `cmake -DVAR=...` can move them. DESTDIR is prepended to all of them.

# bash-completion loads completions on demand from its completionsdir. Its
# pkg-config file names that folder when the package is installed;
# otherwise the folder under our own prefix is used, which bash-completion
# also searches because it is in XDG_DATA_DIRS by default.
pkg_get_variable(MAILTOKEN_PC_COMPLETIONSDIR bash-completion completionsdir)
if(MAILTOKEN_PC_COMPLETIONSDIR)
  set(mailtoken_completion_default "${MAILTOKEN_PC_COMPLETIONSDIR}")
else()
  set(mailtoken_completion_default "${CMAKE_INSTALL_FULL_DATADIR}/bash-completion/completions")
endif()
set(MAILTOKEN_BASH_COMPLETION_DIR "${mailtoken_completion_default}" CACHE PATH
    "Folder for the bash completion of mailtoken")

# Installs a copy of a source file in which the default paths of the
# program and of the system configuration are replaced by this build's.
function(mailtoken_install_with_paths source destination name)
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${source})
  file(READ ${source} text)
  string(REPLACE "/etc/mailtoken/mailtoken.conf" "${MAILTOKEN_SYSCONFDIR}/mailtoken.conf"
         text "${text}")
  string(REPLACE "/usr/local/bin/mailtoken" "${MAILTOKEN_HELPER_PATH}" text "${text}")
  set(output ${PROJECT_BINARY_DIR}/install/${name})
  # Written only when it changes, so that an unchanged copy keeps its time.
  set(old "")
  if(EXISTS ${output})
    file(READ ${output} old)
  endif()
  if(NOT old STREQUAL text)
    file(WRITE ${output} "${text}")
  endif()
  install(FILES ${output} DESTINATION ${destination})
endfunction()

mailtoken_install_with_paths(${PROJECT_SOURCE_DIR}/contrib/completion/mailtoken.bash
                             ${MAILTOKEN_BASH_COMPLETION_DIR} mailtoken)

# systemd's folders: from its pkg-config file when systemd is installed
# (on Debian 12 /lib/systemd/system and /usr/lib/sysusers.d), otherwise
# under our prefix, which systemd also searches for units.
pkg_get_variable(MAILTOKEN_PC_UNITDIR systemd systemdsystemunitdir)
pkg_get_variable(MAILTOKEN_PC_SYSUSERSDIR systemd sysusersdir)
if(NOT MAILTOKEN_PC_UNITDIR)
  set(MAILTOKEN_PC_UNITDIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
endif()
if(NOT MAILTOKEN_PC_SYSUSERSDIR)
  set(MAILTOKEN_PC_SYSUSERSDIR "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d")
endif()
set(MAILTOKEN_SYSTEMD_UNITDIR "${MAILTOKEN_PC_UNITDIR}" CACHE PATH
    "Folder for mailtoken.service and mailtoken.socket")
set(MAILTOKEN_SYSUSERSDIR "${MAILTOKEN_PC_SYSUSERSDIR}" CACHE PATH
    "Folder for the sysusers.d file that creates the user mailtoken")

# The units name the installed program and configuration. Installing them
# enables nothing: the administrator runs systemctl enable.
mailtoken_install_with_paths(${PROJECT_SOURCE_DIR}/contrib/systemd/mailtoken.service
                             ${MAILTOKEN_SYSTEMD_UNITDIR} mailtoken.service)
mailtoken_install_with_paths(${PROJECT_SOURCE_DIR}/contrib/systemd/mailtoken.socket
                             ${MAILTOKEN_SYSTEMD_UNITDIR} mailtoken.socket)
mailtoken_install_with_paths(${PROJECT_SOURCE_DIR}/contrib/systemd/mailtoken.sysusers
                             ${MAILTOKEN_SYSUSERSDIR} mailtoken.conf)

# The example goes beside the configuration file, under another name, so an
# install never overwrites a configuration in use.
install(FILES ${PROJECT_SOURCE_DIR}/contrib/mailtoken.conf.example
        DESTINATION ${MAILTOKEN_SYSCONFDIR})

# `make uninstall` (or `cmake --build build --target uninstall`) removes the
# files that the last install listed in install_manifest.txt, with the
# DESTDIR that install used, then the folders of mailtoken's own when they
# are empty. A configuration or token store that an administrator created
# stays.
add_custom_target(uninstall
  COMMAND ${CMAKE_COMMAND}
          -DMANIFEST=${CMAKE_BINARY_DIR}/install_manifest.txt
          "-DOWN_FOLDERS=${MAILTOKEN_PKGLIBDIR};${MAILTOKEN_SYSCONFDIR}"
          -P ${PROJECT_SOURCE_DIR}/cmake/Uninstall.cmake
  COMMENT "Removing the files listed in install_manifest.txt"
  VERBATIM)
