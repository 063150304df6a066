# Tests of mailtoken authorize. Included from CMakeLists.txt in this folder.
#
# The scripted tests run the browser, --manual and --device flows against
# tests/tools/fake_as.py on MAILTOKEN_TEST_PORT_BASE plus their offset, in
# the range base+60..69 that the scripted endpoint's tests share (hence the
# lock), and need no stack. The glewlwyd test needs the stack and the
# redirect port.

function(mailtoken_authorize_scripted_test name script offset)
  add_test(NAME ${name}
           COMMAND ${MAILTOKEN_BASH} ${CMAKE_CURRENT_SOURCE_DIR}/${script})
  set_tests_properties(${name} PROPERTIES
    LABELS integration
    TIMEOUT 300
    RESOURCE_LOCK stack_scripted_port
    ENVIRONMENT "MAILTOKEN=$<TARGET_FILE:mailtoken>;MAILTOKEN_TEST_PORT_OFFSET=${offset}")
endfunction()

mailtoken_authorize_scripted_test(authorize.scripted test_authorize_scripted.sh 63)
mailtoken_authorize_scripted_test(authorize.device_scripted test_authorize_device_scripted.sh 64)

mailtoken_stack_test(authorize.glewlwyd test_authorize_glewlwyd.sh REDIRECT_PORT)
set_property(TEST authorize.glewlwyd APPEND PROPERTY
  ENVIRONMENT "MAILTOKEN=$<TARGET_FILE:mailtoken>")
