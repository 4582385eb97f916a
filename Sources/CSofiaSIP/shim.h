// SPDX-License-Identifier: MIT
// sofia-sip's user agent library (libsofia-sip-ua-dev), for the SIP user agent shim
// (Sources/CSIPUserAgent): Swift never calls sofia-sip itself, whose API is C varargs tag lists.
#include <sofia-sip/su.h>
