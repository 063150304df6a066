# Removes the files that `cmake --install` listed in install_manifest.txt.
# Run by the uninstall target:
#   cmake -DMANIFEST=FILE -DOWN_FOLDERS=DIR;DIR -P Uninstall.cmake
# The manifest holds the paths without DESTDIR (checked with CMake 3.25),
# so the DESTDIR of this run goes in front of each, as it does in front of
# OWN_FOLDERS: folders that only mailtoken uses, each removed when it is
# empty afterwards.

if(NOT EXISTS "${MANIFEST}")
  message(FATAL_ERROR "${MANIFEST} does not exist: nothing was installed from this build "
                      "folder")
endif()

file(STRINGS "${MANIFEST}" installed)
set(failed "")
foreach(path IN LISTS installed)
  set(path "$ENV{DESTDIR}${path}")
  if(IS_SYMLINK "${path}" OR EXISTS "${path}")
    message(STATUS "Removing ${path}")
    file(REMOVE "${path}")
    if(IS_SYMLINK "${path}" OR EXISTS "${path}")
      list(APPEND failed "${path}")
    endif()
  else()
    message(STATUS "Already removed: ${path}")
  endif()
endforeach()

foreach(folder IN LISTS OWN_FOLDERS)
  set(folder "$ENV{DESTDIR}${folder}")
  if(IS_DIRECTORY "${folder}")
    file(GLOB left "${folder}/*" "${folder}/.*")
    if(NOT left)
      message(STATUS "Removing the empty folder ${folder}")
      file(REMOVE_RECURSE "${folder}")
    endif()
  endif()
endforeach()

if(failed)
  list(JOIN failed "\n  " failed_text)
  message(FATAL_ERROR "Could not remove:\n  ${failed_text}\nRemove them by hand, as the user "
                      "that installed them.")
endif()
