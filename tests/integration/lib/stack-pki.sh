# shellcheck shell=bash
# Test PKI, made with openssl each time the stack starts: a CA and one
# server certificate for localhost (SANs DNS:localhost, IP:127.0.0.1) that
# Dovecot and Postfix serve. glewlwyd speaks plain HTTP on loopback.
# Sourced by stack.sh.
#
# Keys are ECDSA P-256: generating them takes milliseconds, where RSA 2048
# took up to a second here, and every client in the test matrix accepts them.

# Creates ca.crt/ca.key and server.crt/server.key in STACK_PKI_DIR.
stack_pki_create() {
    local dir=$STACK_PKI_DIR ext
    mkdir -p "$dir" || return 1
    ext=$dir/server.ext
    cat >"$ext" <<'EOF'
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
EOF

    if ! openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
        -nodes -keyout "$dir/ca.key" -out "$STACK_CA_FILE" -days 30 \
        -subj "/CN=mailtoken test CA $STACK_PORT_BASE" \
        -addext 'basicConstraints=critical,CA:TRUE' \
        -addext 'keyUsage=critical,keyCertSign,cRLSign' >"$dir/openssl.out" 2>&1; then
        _stack_err "openssl failed to create the test CA:"
        cat "$dir/openssl.out" >&2
        return 1
    fi
    if ! openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -keyout "$STACK_SERVER_KEY" -out "$dir/server.csr" -subj /CN=localhost \
        >>"$dir/openssl.out" 2>&1 ||
        ! openssl x509 -req -in "$dir/server.csr" -CA "$STACK_CA_FILE" \
            -CAkey "$dir/ca.key" -CAcreateserial -out "$STACK_SERVER_CERT" \
            -days 30 -extfile "$ext" >>"$dir/openssl.out" 2>&1; then
        _stack_err "openssl failed to create the server certificate:"
        cat "$dir/openssl.out" >&2
        return 1
    fi

    chmod 0644 "$STACK_CA_FILE" "$STACK_SERVER_CERT"
    chmod 0600 "$STACK_SERVER_KEY" "$dir/ca.key"
}
