# Integration tests of `mailtoken serve`: real daemons on Unix sockets in a
# folder under /tmp, with tests/tools/fake_as.py as the token endpoint on
# 127.0.0.1 at MAILTOKEN_TEST_PORT_BASE+70 to +79 (base 14300 when unset).
# They need no mail servers. test_daemon_access runs clients as other
# users with setpriv, so it needs root. Run them with `ctest -L integration`.
set(MAILTOKEN_DAEMON_TESTS hostile access signals refresh)
foreach(name IN LISTS MAILTOKEN_DAEMON_TESTS)
  add_test(NAME daemon.${name}
           COMMAND /usr/bin/python3 ${CMAKE_CURRENT_LIST_DIR}/test_daemon_${name}.py)
  set_tests_properties(daemon.${name} PROPERTIES
    LABELS integration
    TIMEOUT 180
    ENVIRONMENT "MAILTOKEN_BIN=$<TARGET_FILE:mailtoken>")
endforeach()

# The systemd units: systemd-analyze verify and security, systemd-sysusers --dry-run.
add_test(NAME daemon.units
         COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/test_daemon_units.sh)
set_tests_properties(daemon.units PROPERTIES
  LABELS integration
  TIMEOUT 60
  ENVIRONMENT "MAILTOKEN_BIN=$<TARGET_FILE:mailtoken>")

# Postfix with the SASL plugin through the stack's Dovecot and glewlwyd.
mailtoken_stack_test(daemon.postfix test_daemon_postfix.sh)
# fake_as on the scripted port issues short-lived tokens, and Dovecot
# restarts to check them there.
mailtoken_stack_test(daemon.postfix_expiry test_daemon_postfix_expiry.sh SCRIPTED_PORT EXCLUSIVE)
