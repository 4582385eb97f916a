// SPDX-License-Identifier: MIT
// The cryptographic primitives SRTP needs, from the system's OpenSSL libcrypto (libssl-dev,
// pkg-config libcrypto): AES-128 through EVP (ECB over counter blocks: hardware AES where the
// CPU has it) and SHA-1 through the plain SHA_CTX interface, whose state is a value that can be
// copied — HMAC precomputes its inner and outer states once per key and copies them per packet,
// so protecting a packet allocates nothing. That interface is deprecated in OpenSSL 3 (not
// removed); the deprecation warnings are silenced for this module alone. The server also takes
// one-shot SHA-1 and HMAC from here for Twilio's request signatures.
#ifndef AUDIOBRIDGE_COPENSSLCRYPTO_SHIM_H
#define AUDIOBRIDGE_COPENSSLCRYPTO_SHIM_H
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#endif
